#!/bin/sh
# Create the project's virtual environment; on a bare Debian, python3-venv may be missing: install it.
set -eu
python=$1 venv=$2
if ! "$python" -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
    $sudo_ apt-get update -q
    $sudo_ apt-get install -y -q python3-venv python3-pip
    "$python" -m venv "$venv"
fi
