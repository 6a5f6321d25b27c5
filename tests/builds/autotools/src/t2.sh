#!/bin/sh
test "$(./hello x)" = "hello, x 1.414 8"
