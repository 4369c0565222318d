"""Unit tests run by solum-agent (unittest_cmd) in the built image before deploy."""

import unittest

import app


class AppTest(unittest.TestCase):
    def test_root_greets(self):
        self.assertEqual(app.respond("/", "Hi"), (200, "Hi from langpack-web\n"))

    def test_healthz(self):
        self.assertEqual(app.respond("/healthz", "Hi"), (200, "ok\n"))


if __name__ == "__main__":
    unittest.main()
