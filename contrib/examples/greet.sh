#!/bin/sh
# A network service in four lines: the connection is stdin and stdout.
printf 'hello %s, what is your name?\n' "$TCPREMOTEIP"
read -r name
printf 'nice to meet you, %s\n' "$name"
