-- wrk script of the writer benchmark (benches/writer.rs): every request is a
-- new handheld booking, a `receive` of one unit with an Idempotency-Key that
-- no other request of the run uses, so each one is booked (never a replay).
-- The bench passes the token and a run id in the environment:
--   BENCH_TOKEN, BENCH_RUN.

local threads = {}
local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_id", thread_count)
   table.insert(threads, thread)
end

function init(args)
   counter = 0
   run = os.getenv("BENCH_RUN") or "run"
   wrk.method = "POST"
   wrk.path = "/api/v1/movements"
   wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
   wrk.headers["Content-Type"] = "application/json"
   wrk.body = '{"kind":"receive","sku":"BENCH-1","quantity":1,"to":"B-1"}'
   created = 0
   other = 0
end

function request()
   counter = counter + 1
   wrk.headers["Idempotency-Key"] = run .. "-t" .. thread_id .. "-" .. counter
   return wrk.format()
end

function response(status, headers, body)
   if status == 201 then
      created = created + 1
   else
      other = other + 1
   end
end

function done(summary, latency, requests)
   local created_total, other_total = 0, 0
   for _, thread in ipairs(threads) do
      created_total = created_total + thread:get("created")
      other_total = other_total + thread:get("other")
   end
   io.write(string.format("BENCH created=%d\n", created_total))
   io.write(string.format("BENCH other=%d\n", other_total))
   for _, p in ipairs({50, 90, 99, 99.9}) do
      io.write(string.format("BENCH p%s_us=%d\n", p, latency:percentile(p)))
   end
   io.write(string.format("BENCH max_us=%d\n", latency.max))
   io.stdout:flush()
end
