"""A gateway played by pymodbus: a Modbus TCP slave serving the register map
of REGISTERS.md (map version 3) with an event ring, boot ids and the
boot-checked acknowledgement, for the depot server's gate tests.

usage: modbus_gateway.py PORT [CAPACITY [UNITS]]
  CAPACITY: ring capacity, default 64; UNITS: gateways behind the port,
  unit ids 1..=UNITS, default 1 (several gateways on one line).

The test drives it by JSON lines on stdin and reads JSON lines on stdout:
  {"cmd": "events", "events": [{"gate": 0, "direction": 1, "epc": "3074..."}]}
  {"cmd": "fault", "kind": "timeout"|"exception"|"malformed", "count": N}
  {"cmd": "down"} / {"cmd": "up"}   stop serving (connections cut) / serve again
  {"cmd": "restart"}                a reset: ring empty, seq from 1, boot id 0
  {"cmd": "noise", "count": N}      N frames dropped for a bad CRC (FRAMES_CRC_ERROR)
  {"cmd": "state"}                  prints the ring's state
Commands take "unit" (default 1) to address one gateway. Every command is
answered with one line: {"ok": ..., ...}.
"""
import asyncio
import json
import sys

try:
    from pymodbus.constants import ExcCodes
    from pymodbus.datastore import ModbusServerContext
    from pymodbus.server import ModbusTcpServer
except ImportError:
    print("pymodbus is not installed: run scripts/install-deps.sh "
          "(python3 -m pip install pymodbus)", file=sys.stderr)
    sys.exit(3)

MAP_VERSION = 3
# Input registers (REGISTERS.md).
UPTIME_S = 4
FRAMES_OK = 6
FRAMES_CRC_ERROR = 8
EXCEPTIONS_SENT = 12
EVENTS_OVERFLOWED = 18
READER_STATUS = 24
SCALE_STATUS = 25
WEIGHT_GRAMS = 26
WEIGHT_FLAGS = 28
EVENT_COUNT = 32
EVENT_OLDEST_SEQ = 33
EVENT_NEWEST_SEQ = 35
EVENT_CAPACITY = 37
EVENT_RECORD_REGS = 38
EVENT_WINDOW_RECORDS = 39
EVENT_WINDOW = 40
RECORD_REGS = 24
WINDOW_RECORDS = 4
INPUT_BOOT_ID = 138
INPUT_LEN = 140
# Holding registers.
EVENT_ACK_SEQ = 0
HOLDING_BOOT_ID = 5
ACK_BOOT_ID = 7
HOLDING_LEN = 11
CAPACITY = int(sys.argv[2]) if len(sys.argv) > 2 else 64
UNITS = int(sys.argv[3]) if len(sys.argv) > 3 else 1


def u32(value):
    return [(value >> 16) & 0xFFFF, value & 0xFFFF]


class Gateway:
    """The ring and registers of one gateway boot."""

    def __init__(self):
        self.reset()
        self.faults = []
        self.boots = 0

    def reset(self):
        self.ring = []  # records: dicts with seq and fields
        self.newest = 0
        self.acked = 0
        self.overflowed = 0
        self.boot_id = 0
        self.uptime_ms = 0
        self.frames_ok = 0
        self.crc_errors = 0
        self.exceptions_sent = 0

    def add(self, event):
        self.uptime_ms += 100
        if len(self.ring) >= CAPACITY:
            self.overflowed += 1
            return
        self.newest += 1
        epc = bytes.fromhex(event["epc"])
        words = [int.from_bytes(epc[i:i + 2], "big") for i in range(0, len(epc), 2)]
        self.ring.append({
            "seq": self.newest,
            "timestamp": self.uptime_ms,
            "gate": event.get("gate", 0),
            "direction": event.get("direction", 1),
            "antenna": event.get("antenna", 2),
            "rssi": event.get("rssi", -60) & 0xFFFF,
            "words": len(words),
            "epc": (words + [0] * 15)[:15],
        })

    def record(self, r):
        return (u32(r["seq"]) + u32(r["timestamp"])
                + [r["gate"], r["direction"], r["antenna"], r["rssi"], r["words"]] + r["epc"])

    def input_registers(self):
        regs = [0] * INPUT_LEN
        regs[0] = MAP_VERSION
        regs[1:4] = [1, 2, 3]
        regs[UPTIME_S:UPTIME_S + 2] = u32(self.uptime_ms // 1000)
        regs[FRAMES_OK:FRAMES_OK + 2] = u32(self.frames_ok)
        regs[FRAMES_CRC_ERROR:FRAMES_CRC_ERROR + 2] = u32(self.crc_errors)
        regs[EXCEPTIONS_SENT:EXCEPTIONS_SENT + 2] = u32(self.exceptions_sent)
        regs[EVENTS_OVERFLOWED:EVENTS_OVERFLOWED + 2] = u32(self.overflowed)
        regs[READER_STATUS] = 1
        regs[SCALE_STATUS] = 1
        regs[WEIGHT_GRAMS:WEIGHT_GRAMS + 2] = u32(25_000)
        regs[WEIGHT_FLAGS] = 3
        regs[EVENT_COUNT] = len(self.ring)
        regs[EVENT_OLDEST_SEQ:EVENT_OLDEST_SEQ + 2] = u32(self.ring[0]["seq"] if self.ring else 0)
        regs[EVENT_NEWEST_SEQ:EVENT_NEWEST_SEQ + 2] = u32(self.newest)
        regs[EVENT_CAPACITY] = CAPACITY
        regs[EVENT_RECORD_REGS] = RECORD_REGS
        regs[EVENT_WINDOW_RECORDS] = WINDOW_RECORDS
        for k, r in enumerate(self.ring[:WINDOW_RECORDS]):
            at = EVENT_WINDOW + k * RECORD_REGS
            regs[at:at + RECORD_REGS] = self.record(r)
        regs[INPUT_BOOT_ID:INPUT_BOOT_ID + 2] = u32(self.boot_id)
        return regs

    def holding_registers(self):
        return u32(self.acked) + [2000, 1, 200] + u32(self.boot_id) + u32(self.boot_id) + u32(self.acked)

    def acknowledge(self, seq):
        if seq > self.newest:
            return ExcCodes.ILLEGAL_VALUE
        self.ring = [r for r in self.ring if r["seq"] > seq]
        self.acked = max(self.acked, seq)
        return None

    def write(self, address, values):
        end = address + len(values)
        if end > HOLDING_LEN:
            return ExcCodes.ILLEGAL_ADDRESS
        at = {address + i: v for i, v in enumerate(values)}
        ack_words = [at.get(ACK_BOOT_ID + i) for i in range(4)]
        if any(w is not None for w in ack_words):
            if any(w is None for w in ack_words):
                return ExcCodes.ILLEGAL_VALUE
            boot = (ack_words[0] << 16) | ack_words[1]
            seq = (ack_words[2] << 16) | ack_words[3]
            if self.boot_id == 0 or boot != self.boot_id:
                return ExcCodes.ILLEGAL_VALUE
            return self.acknowledge(seq)
        if HOLDING_BOOT_ID in at or HOLDING_BOOT_ID + 1 in at:
            if HOLDING_BOOT_ID not in at or HOLDING_BOOT_ID + 1 not in at:
                return ExcCodes.ILLEGAL_VALUE
            boot = (at[HOLDING_BOOT_ID] << 16) | at[HOLDING_BOOT_ID + 1]
            if boot == 0 or self.boot_id != 0:
                return ExcCodes.ILLEGAL_VALUE
            self.boot_id = boot
            self.boots += 1
            return None
        if EVENT_ACK_SEQ + 1 in at:
            high = at.get(EVENT_ACK_SEQ, 0)
            return self.acknowledge((high << 16) | at[EVENT_ACK_SEQ + 1])
        return None

    def state(self):
        return {"count": len(self.ring), "newest": self.newest, "acked": self.acked,
                "boot_id": self.boot_id, "overflowed": self.overflowed, "named": self.boots}


class Context(ModbusServerContext):
    """The datastore: every request goes to the gateway, after any fault."""

    def __init__(self, gateways):  # pylint: disable=super-init-not-called
        self.gateways = gateways
        self.gateway = None
        self.old_simulator = True
        self.simdevices = []

    def device_ids(self):
        return list(self.gateways)

    def select(self, device_id):
        """The addressed gateway; False for a unit id nobody has."""
        self.gateway = self.gateways.get(device_id)
        return self.gateway is not None

    async def fault(self, write=False, window=False):
        """Takes the next fault, counting the request as the firmware does;
        a malformed answer only a read of the event window can give."""
        faults = self.gateway.faults
        if faults and faults[0] == "malformed" and (write or not window):
            faults = []
        if not faults:
            self.gateway.frames_ok += 1
            return None
        kind = faults.pop(0)
        if kind == "timeout":
            await asyncio.sleep(3)
            return None
        self.gateway.frames_ok += 1
        if kind == "exception":
            self.gateway.exceptions_sent += 1
            return ExcCodes.DEVICE_BUSY
        return kind

    async def async_getValues(self, device_id, func_code, address, count=1):
        if not self.select(device_id):
            return ExcCodes.GATEWAY_NO_RESPONSE
        fault = await self.fault(window=func_code == 4 and address + count > EVENT_WINDOW)
        if isinstance(fault, ExcCodes):
            return fault
        if func_code == 4:
            regs = self.gateway.input_registers()
            if address + count > INPUT_LEN:
                return ExcCodes.ILLEGAL_ADDRESS
            if fault == "malformed" and len(self.gateway.ring) >= 2:
                # Swap the first two records: seqs out of order.
                first = EVENT_WINDOW
                second = EVENT_WINDOW + RECORD_REGS
                regs[first:second], regs[second:second + RECORD_REGS] = (
                    regs[second:second + RECORD_REGS], regs[first:second])
            elif fault == "malformed":
                regs[EVENT_WINDOW + 5] = 9  # an undefined direction
                regs[EVENT_WINDOW + 1] |= 1
            return regs[address:address + count]
        regs = self.gateway.holding_registers()
        if address + count > HOLDING_LEN:
            return ExcCodes.ILLEGAL_ADDRESS
        return regs[address:address + count]

    async def async_setValues(self, device_id, func_code, address, values):
        if not self.select(device_id):
            return ExcCodes.GATEWAY_NO_RESPONSE
        fault = await self.fault(write=True)
        if isinstance(fault, ExcCodes):
            return fault
        return self.gateway.write(address, list(values))


async def serve(gateways, port):
    server = ModbusTcpServer(Context(gateways), address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    return server


def reply(**fields):
    print(json.dumps({"ok": True, **fields}), flush=True)


async def main():
    port = int(sys.argv[1])
    gateways = {unit: Gateway() for unit in range(1, UNITS + 1)}
    server = await serve(gateways, port)
    reply(port=port, map_version=MAP_VERSION, input_len=INPUT_LEN, holding_len=HOLDING_LEN,
          input_boot_id=INPUT_BOOT_ID, holding_boot_id=HOLDING_BOOT_ID, ack_boot_id=ACK_BOOT_ID)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = json.loads(line)
        cmd = command["cmd"]
        gateway = gateways[command.get("unit", 1)]
        if cmd == "events":
            for event in command["events"]:
                gateway.add(event)
            reply(**gateway.state())
        elif cmd == "fault":
            gateway.faults.extend([command["kind"]] * command.get("count", 1))
            reply()
        elif cmd == "down":
            if server is not None:
                await server.shutdown()
                server = None
            reply()
        elif cmd == "up":
            if server is None:
                server = await serve(gateways, port)
            reply()
        elif cmd == "restart":
            gateway.reset()
            reply(**gateway.state())
        elif cmd == "noise":
            gateway.crc_errors += command["count"]
            reply()
        elif cmd == "state":
            reply(**gateway.state())
        else:
            print(json.dumps({"ok": False, "error": f"unknown command {cmd}"}), flush=True)
    if server is not None:
        await server.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
