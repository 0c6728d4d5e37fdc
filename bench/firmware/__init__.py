"""Firmware benchmark: heap and code size of each device under the MicroPython Unix port."""
