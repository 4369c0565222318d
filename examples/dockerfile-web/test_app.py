"""Unit tests run by solum-agent (unittest_cmd) in the built image before deploy."""

import os
import tempfile
import unittest

import app


class AppTest(unittest.TestCase):
    def test_root_greets(self):
        status, body = app.respond("/", "Hi")
        self.assertEqual(status, 200)
        self.assertIn("Hi from dockerfile-web", body)

    def test_healthz(self):
        self.assertEqual(app.respond("/healthz", "Hi"), (200, "ok\n"))

    def test_unknown_path(self):
        self.assertEqual(app.respond("/nope", "Hi")[0], 404)

    def test_greeting_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "greeting.txt")
            with open(path, "w", encoding="utf-8") as f:
                f.write("Bonjour\n")
            self.assertEqual(app.load_greeting(path), "Bonjour")
            self.assertEqual(app.load_greeting(os.path.join(d, "missing")), "Hello")


if __name__ == "__main__":
    unittest.main()
