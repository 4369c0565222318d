#!/bin/sh
set -e
python3 -c "import ast; ast.parse(open(\"app.py\").read())"
