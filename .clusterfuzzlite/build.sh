#!/bin/bash -eu
# ClusterFuzzLite build: package the oracle's parser target (fuzz/parser_fuzzer.py) as one fuzzer.
#
# The oracle is pure Python (lxml); it reads its profiles (oracle/data/*.json) and the recorded QEMU
# capability sets in capsets/, data files PyInstaller does not collect by itself: both are added at
# the places the oracle looks for them (oracle/profile.py: its own data/; oracle/capsets.py: ../capsets).
#
# The differential target (fuzz.atheris_targets differential) is not packaged: it drives the real
# libvirt, whose QEMU driver modules and QEMU binaries are not in a ClusterFuzzLite runner image.
# It runs in `tox -e atheris` on a machine set up by scripts/setup.sh.
pip3 install .

compile_python_fuzzer fuzz/parser_fuzzer.py --add-data capsets:capsets --add-data oracle/data:oracle/data

# seed corpus: the corpus' domain inputs (libFuzzer reads each file as one input)
find corpus/cases -name '*.xml' ! -name '*.expected.*' -print0 | head -z -n 2000 | xargs -0 zip -q -j "$OUT/parser_fuzzer_seed_corpus.zip"
