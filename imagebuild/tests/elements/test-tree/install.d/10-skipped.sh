#!/bin/sh
# Must never run: the name has a dot.
touch /etc/solum-skipped-ran
exit 1
