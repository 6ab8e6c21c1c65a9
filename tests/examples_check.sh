#!/bin/sh
echo "examples not written yet"; exit 0
