#!/usr/bin/env bash
# Set up a virtualenv, install loopml, and run the workflow end to end on the bundled demo
# data (NYC flights 2013) in ./quickstart/. Safe to run again: same data, same versions.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e .
loopml=$PWD/.venv/bin/loopml
mkdir -p quickstart && cd quickstart
set -x
"$loopml" init --demo --force          # step 1: define the task -> loopml.yaml
"$loopml" profile                      # steps 2-3: version, check, clean, EDA report
"$loopml" split                        # step 4: versioned train / test, test sealed
"$loopml" data list                    # dataset versions and their lineage
"$loopml" train --time-budget 30       # steps 5-7: search, tune, ensemble, evaluate once on test
"$loopml" runs list                    # every run: data version, spec, test score, time
"$loopml" score latest data/flights.csv scored.csv   # batch predictions with the chosen model
