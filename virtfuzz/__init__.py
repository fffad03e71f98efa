"""virtfuzz: differential testing of libvirt's QEMU-driver domain XML handling."""
