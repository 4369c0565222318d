"""Unit tests of python-web (run by unit_tests.sh)."""

import unittest

import app


class RespondTest(unittest.TestCase):
    def test_health(self):
        self.assertEqual(app.respond("/healthz", 5000), (200, "text/plain; charset=utf-8", "ok"))

    def test_page_names_the_port(self):
        status, ctype, body = app.respond("/", 8080)
        self.assertEqual(status, 200)
        self.assertIn("text/html", ctype)
        self.assertIn("port 8080", body)

    def test_unknown_path(self):
        self.assertEqual(app.respond("/nope", 5000)[0], 404)


if __name__ == "__main__":
    unittest.main()
