# Sim board only: what a ROMFS-enabled port does before main.py. The port mounts its ROM partition at
# /rom with /rom/lib on sys.path, so modules import from the image and their bytecode runs in place.
# The Unix port cannot memory-map a file, so the image is read into the heap once; its cost is kept in
# sys.modules["_sim_rom_bytes"] so the sim board's heap report can leave it out (on the ESP32 the
# partition is flash and takes no RAM). Usage: micropython sim_romfs.py <main.py>
import gc
import os
import sys
import vfs


def _mount():
    gc.collect()
    before = gc.mem_alloc()
    with open(os.getenv("RESTOCK_SIM_FLASH") + "/romfs.img", "rb") as f:
        image = f.read()
    gc.collect()
    sys.modules["_sim_rom_bytes"] = gc.mem_alloc() - before
    vfs.mount(vfs.VfsRom(image), "/rom")
    sys.path[:0] = ["/rom", "/rom/lib"]


_mount()
del _mount
with open(sys.argv[1]) as _f:
    _main = compile(_f.read(), sys.argv[1], "exec")
exec(_main, {"__name__": "__main__"})
