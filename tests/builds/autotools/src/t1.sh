#!/bin/sh
./hello | grep -q "hello, world"
