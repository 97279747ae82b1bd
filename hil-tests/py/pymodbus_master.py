"""An independent Modbus RTU master for the hil-tests: pymodbus against the
gateway's Modbus pty. Prints one JSON object with what it saw; the Rust test
decides what is right.

usage: pymodbus_master.py PTY INPUT_LEN HOLDING_DEDUP_ADDR
"""
import json
import sys

try:
    from pymodbus.client import ModbusSerialClient
except ImportError:
    print("pymodbus is not installed: run scripts/install-deps.sh "
          "(python3 -m pip install pymodbus pyserial)", file=sys.stderr)
    sys.exit(3)


def outcome(reply):
    if reply.isError():
        return {"exception": getattr(reply, "exception_code", None)}
    return {"registers": list(getattr(reply, "registers", []) or [])}


def main():
    pty, input_len, dedup_addr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    client = ModbusSerialClient(pty, baudrate=115200, timeout=1, retries=5)
    if not client.connect():
        print(f"cannot open {pty}", file=sys.stderr)
        sys.exit(2)
    seen = {
        "status": outcome(client.read_input_registers(0, count=32, device_id=1)),
        "last_register": outcome(client.read_input_registers(input_len - 1, count=1, device_id=1)),
        "out_of_map": outcome(client.read_input_registers(input_len, count=1, device_id=1)),
        "read_coils": outcome(client.read_coils(0, count=1, device_id=1)),
        "write_dedup": outcome(client.write_register(dedup_addr, 750, device_id=1)),
        "read_dedup": outcome(client.read_holding_registers(dedup_addr, count=1, device_id=1)),
        "bad_dedup": outcome(client.write_registers(dedup_addr, [0], device_id=1)),
        "counters": outcome(client.read_input_registers(0, count=32, device_id=1)),
    }
    client.close()
    print(json.dumps(seen))


main()
