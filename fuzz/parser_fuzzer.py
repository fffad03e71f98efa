"""ClusterFuzzLite/OSS-Fuzz entry point of the ``parser`` atheris target (a file of its own: their
``compile_python_fuzzer`` packages one script per fuzzer with PyInstaller).

Only the parser target is packaged: the differential target needs the real libvirt, with its QEMU
driver modules and a QEMU, at run time, which a ClusterFuzzLite runner image does not carry; it runs
in ``tox -e atheris`` on a machine set up by scripts/setup.sh.
"""

from fuzz.atheris_targets import parser_target

if __name__ == "__main__":
    parser_target()  # sys.argv is libFuzzer's own (flags, corpus directories)
