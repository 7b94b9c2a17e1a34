-- wrk script for webhook_bench.py: replays a file of precomputed, signed HTTP requests, each once.
--
-- Signing (sha1) and safe-mode encryption are done in Python beforehand: LuaJIT has neither, and
-- doing them here would make the generator, not the server, the thing measured. The file holds
-- records of an 8-digit byte length followed by the raw request (request line, headers, body).
--
-- Arguments (after `--`): records file, then one or more markers: every good answer contains one of them
-- (byte strings; e.g. a member's menu and a stranger's). The answers are counted by the first marker they
-- contain, so the driver can tell how many were answered as what. done() prints one `BENCH_RESULT {...}`
-- JSON line that webhook_bench.py parses.

-- Thread-state globals (not locals) so that done(), in the main state, can read them with
-- thread:get().
sent = 0          -- requests taken from the file
exhausted = 0     -- 1 when the file ran out (the result is then not a full-duration measurement)
answers = 0       -- responses seen
not_200 = 0       -- responses whose status was not 200
bad_body = 0      -- 200 responses without any marker (e.g. `success` or an error page)
hits = {}         -- per marker: the answers that contained it (the first that matched)

local records
local markers = {}
-- When the file runs out, connections still ask for a request until the thread stops: they get this
-- one, which no server answers 200 to, so it can never count as a good webhook answer.
local exhausted_request = "GET /exhausted HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   records = assert(io.open(args[1], "rb"))
   for i = 2, #args do
      table.insert(markers, args[i])
      hits[i - 1] = 0
   end
   assert(#markers > 0, "replay.lua: no marker given")
end

function request()
   local header = records:read(8)
   if header == nil then
      if exhausted == 0 then
         exhausted = 1
         wrk.thread:stop()
      end
      return exhausted_request
   end
   sent = sent + 1
   return records:read(tonumber(header))
end

function response(status, headers, body)
   answers = answers + 1
   if status ~= 200 then
      not_200 = not_200 + 1
      return
   end
   if body ~= nil then
      for i, marker in ipairs(markers) do
         if string.find(body, marker, 1, true) then
            hits[i] = hits[i] + 1
            return
         end
      end
   end
   bad_body = bad_body + 1
end

function done(summary, latency, requests)
   local totals = { sent = 0, exhausted = 0, answers = 0, not_200 = 0, bad_body = 0 }
   for _, thread in ipairs(threads) do
      for name, _ in pairs(totals) do
         totals[name] = totals[name] + thread:get(name)
      end
   end
   local per_marker = {}
   for _, thread in ipairs(threads) do
      for i, n in ipairs(thread:get("hits")) do
         per_marker[i] = (per_marker[i] or 0) + n
      end
   end
   local errors = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"duration_us": %d, "requests": %d, "bytes": %d, ' ..
      '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, ' ..
      '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "status_errors": %d, ' ..
      '"timeouts": %d, "sent": %d, "exhausted": %d, "answers": %d, "not_200": %d, "bad_body": %d, ' ..
      '"marker_hits": [%s]}\n',
      summary.duration, summary.requests, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      totals.sent, totals.exhausted, totals.answers, totals.not_200, totals.bad_body,
      table.concat(per_marker, ", ")))
end
