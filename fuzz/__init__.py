"""Input generation for virtfuzz: the vocabulary (data) and hypothesis strategies (domain/device XML).

Kept separate from ``virtfuzz`` (backends, results) and ``oracle`` so that generating inputs needs
neither libvirt nor the oracle: the strategies are plain data plus hypothesis.
"""
