# Sim board only: what a ROMFS-enabled port does before main.py. The port mounts its ROM partition at
# /rom with /rom/lib on sys.path, so modules import from the image and their bytecode runs in place.
# The Unix port cannot memory-map a file, so the image is read into the heap once; its cost is kept in
# sys.modules["_sim_rom_bytes"] so the sim board's heap report can leave it out (on the ESP32 the
# partition is flash and takes no RAM). Usage: micropython sim_romfs.py <main.py>
# Every name in this file is interned at boot and counts against the firmware: it uses builtin ones only.
import gc
import os
import sys
import vfs

gc.collect()
sys.modules["_sim_rom_bytes"] = gc.mem_alloc()
with open(os.getenv("RESTOCK_SIM_FLASH") + "/romfs.img", "rb") as f:
    path = f.read()  # (the image)
gc.collect()
sys.modules["_sim_rom_bytes"] = gc.mem_alloc() - sys.modules["_sim_rom_bytes"]
vfs.mount(vfs.VfsRom(path), "/rom")
sys.path[:0] = ["/rom", "/rom/lib"]
with open(sys.argv[1]) as f:
    path = compile(f.read(), sys.argv[1], "exec")
exec(path, {"__name__": "__main__"})
