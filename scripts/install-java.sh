#!/usr/bin/env bash
# Java 17+ and Maven are needed to assemble and run the test Kafka broker; install them from
# Debian's packages when the machine lacks them (CI machines normally have both).
set -euo pipefail
if command -v java >/dev/null && command -v mvn >/dev/null; then exit 0; fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q openjdk-17-jre-headless maven
