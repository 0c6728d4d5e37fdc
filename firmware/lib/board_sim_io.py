# The sim board's parts that only some devices use: the appliance sensor's HX711 load cell and pulse
# input, the wand's scanner UART and buzzer. Board loads them the first time one of its members needs
# them, so a dash button's heap figures do not carry them.


class Parts:
    def __init__(self, board):
        self.b = board
        s = board.sim
        self.level = float(s.get("level", 0.0))  # grams on the load cell
        self.noise = float(s.get("noise", 0.0))
        self.hx_offset = s.get("hx_offset", 8000)
        self.hx_scale = s.get("hx_scale", 420.0)
        self.lines = []  # scanner UART lines
        self.pulses = 0  # pulses not yet delivered to an irq handler
        self.irqs = {}
        self.buzzes = 0
        self._hx = 0  # clock pulses into the current HX711 conversion
        self._hx_word = 0
        self._hx_dout = 0
        self._seed = 12345

    def woke(self):
        self.irqs = {}
        self._hx = self._hx_dout = 0  # the HX711 restarts when its clock line comes out of power-down

    # -- inputs -----------------------------------------------------------------------------
    def uart_line(self):
        self.b._serve(0)
        return self.lines.pop(0) if self.lines else None

    def pin(self, name, mode=0):
        return SimPin(self, name)

    def hold(self, name, value):
        self.pin_write(name, value)

    def pin_write(self, name, v):
        if name == "hx_sck":
            if v and self._hx < 32:
                if self._hx == 0:
                    self._hx_word = self._hx711_raw() & 0xFFFFFF
                self._hx += 1
                self._hx_dout = (self._hx_word >> (24 - self._hx)) & 1 if self._hx <= 24 else 1
            elif not v and self._hx >= 25:
                self._hx = 0  # conversion done; the model has the next one ready at once
                self._hx_dout = 0

    def pin_read(self, name):
        if name == "hx_dout":
            return self._hx_dout
        return 0

    def _rand(self):
        self._seed = (self._seed * 1103515245 + 12345) & 0x7FFFFFFF
        return self._seed / 0x7FFFFFFF

    def _hx711_raw(self):
        g = self.level + (self._rand() * 2 - 1) * self.noise
        return int(self.hx_offset + g * self.hx_scale)

    def fire_pulses(self):
        h = self.irqs.get("pulse")
        while h is not None and self.pulses and not self.b._asleep:
            self.pulses -= 1
            h(None)

    # -- outputs ----------------------------------------------------------------------------
    def buzz(self, freq, ms):
        self.buzzes += 1
        self.b.note("buzz", "%d %d" % (freq, ms))
        self.b.sleep_ms(ms)

    # -- control channel: the commands for these parts ----------------------------------------
    def command(self, cmd, arg, line):
        b = self.b
        if cmd == "scan" or cmd == "trigger":
            b._hold((50,))
            if cmd == "scan":
                self.lines.append(arg.encode())
        elif cmd == "uart":
            self.lines.append(line[5:].encode())
        elif cmd == "level":
            self.level = float(arg)
        elif cmd == "noise":
            self.noise = float(arg)
        elif cmd == "pulse":
            self.pulses += int(arg or 1)
            self.fire_pulses()
        elif cmd == "battery":
            b.mv = None if arg == "none" else int(arg)
        elif cmd == "rssi":
            b.rssi = int(arg)
        else:
            raise ValueError("unknown command " + cmd)
        return cmd


class SimPin:
    """A GPIO: the parts model what is wired to it (HX711, pulse input)."""

    def __init__(self, parts, name):
        self.p = parts
        self.name = name

    def value(self, v=None):
        if v is None:
            return self.p.pin_read(self.name)
        self.p.pin_write(self.name, v)

    def irq(self, handler=None, trigger=None):
        self.p.irqs[self.name] = handler
        self.p.fire_pulses()

