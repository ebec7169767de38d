#!/bin/sh
# island(8) runs on the distribution's nodejs; the app and its pruned node_modules live in /usr/lib/island
exec /usr/bin/node /usr/lib/island/dist/cli.cjs "$@"
