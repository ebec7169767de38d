#!/bin/sh
# island(8) runs on the distribution's nodejs; the app and its pruned node_modules live in /usr/lib/island
# island makes no TLS connection: node would parse NODE_EXTRA_CA_CERTS's bundle at every start
# for nothing (~38 ms of CPU with Debian's ca-certificates.crt, ~60% of `island --help`)
unset NODE_EXTRA_CA_CERTS
exec /usr/bin/node /usr/lib/island/dist/cli.cjs "$@"
