#!/bin/sh
# HAProxy-style agent check: answer "up" while the disk has room, else "down".
use=$(df --output=pcent / | tail -n 1 | tr -dc 0-9)
if [ "$use" -lt 95 ]; then echo "up"; else echo "down #disk ${use}%"; fi
