import { RedisConnection } from "@rampart/core/Redis"
import { decodeOptions, type InvalidOptions } from "@rampart/core/Options"
import { Effect, Schema } from "effect"
import { createHash } from "node:crypto"
import type { RateLimitConfig, Service, TakeResult } from "../RateLimiterStore.js"
import { RateLimiterStoreError } from "../RateLimiterStore.js"

/**
 * The Redis store: one Lua script does the whole `take` (read the key's state, apply the
 * algorithm, write the state back with its expiry) so it is atomic across every process sharing
 * the server. The arithmetic is the memory store's, line for line (see rateLimiterStore.ts), in
 * Lua's doubles: every value is an integer below 2^53, so both give identical answers.
 *
 * State: one string per key, `"<algorithm> <current> <previous> <time> <scale>"`, written with
 * `SET ... PX ttl` where ttl = max(idleTimeout, time to recover) (+ slack in caller-time mode), so
 * a key expires only once dropping it is indistinguishable from keeping it.
 */
export const TAKE_SCRIPT = `
local algorithm = ARGV[1]
local cost = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local p1 = tonumber(ARGV[4])
local p2 = tonumber(ARGV[5])
local p3 = tonumber(ARGV[6])
local idle = tonumber(ARGV[7])
local slack = tonumber(ARGV[8])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
now = math.floor(now)

local function ceilDiv(a, b)
  local q = math.ceil(a / b)
  if q * b < a then return q + 1 end
  if q > 0 and (q - 1) * b >= a then return q - 1 end
  return q
end
local function floorDiv(a, b)
  local q = math.floor(a / b)
  if (q + 1) * b <= a then return q + 1 end
  if q * b > a then return q - 1 end
  return q
end
local function windowStart(t, w)
  return floorDiv(t, w) * w
end

local bucket = algorithm == 'TB'
local current, previous, time, scale
local raw = redis.call('GET', KEYS[1])
if raw then
  local tag, c, p, t, s = string.match(raw, '^(%a+) (%S+) (%S+) (%S+) (%S+)$')
  if tag == algorithm then
    current, previous, time, scale = tonumber(c), tonumber(p), tonumber(t), tonumber(s)
  end
end
if current == nil then
  if bucket then
    current, previous, time, scale = p1 * p3, 0, now, p3
  else
    current, previous, time, scale = 0, 0, windowStart(now, p2), p2
  end
end

local function roll(window, keepPrevious)
  if scale == window and now >= time and now - time < window then return end
  local start = windowStart(now, window)
  if scale ~= window then
    scale = window
    time = start
  elseif start > time then
    if keepPrevious and start - time == window then previous = current else previous = 0 end
    current = 0
    time = start
  end
end

local allowed, remaining, retry, recovery
if bucket then
  local capacity, rate, period = p1, p2, p3
  local full = capacity * period
  if scale ~= period then
    current = math.floor((current * period) / scale)
    scale = period
  end
  if now > time then
    current = current + (now - time) * rate
    time = now
  end
  if current > full then current = full end
  local needed = cost * period
  if current >= needed then
    current = current - needed
    allowed, remaining, retry = 1, math.floor(current / period), 0
  else
    allowed, remaining, retry = 0, math.floor(current / period), ceilDiv(needed - current, rate)
  end
  recovery = ceilDiv(full, rate)
elseif algorithm == 'FW' then
  local limit, window = p1, p2
  roll(window, false)
  if current + cost <= limit then
    current = current + cost
    allowed, remaining, retry = 1, limit - current, 0
  else
    allowed, remaining, retry = 0, math.max(0, limit - current), math.max(1, time + window - now)
  end
  recovery = window
else
  local limit, window = p1, p2
  roll(window, true)
  local elapsed = math.min(window - 1, math.max(0, now - time))
  local previousWeight = previous * (window - elapsed)
  if previousWeight + (current + cost) * window <= limit * window then
    current = current + cost
    allowed, remaining, retry = 1, floorDiv(limit * window - previousWeight - current * window, window), 0
  else
    allowed = 0
    remaining = math.max(0, floorDiv(math.max(0, limit * window - previousWeight - current * window), window))
    local spare = limit - current - cost
    if spare >= 0 then
      local at = window - floorDiv(spare * window, previous)
      retry = math.max(1, at - elapsed)
    else
      local at = window - floorDiv((limit - cost) * window, current)
      retry = window - elapsed + at
    end
  end
  recovery = 2 * window
end

local state = string.format('%s %.0f %.0f %.0f %.0f', algorithm, current, previous, time, scale)
redis.call('SET', KEYS[1], state, 'PX', math.max(1, math.max(idle, recovery) + slack))
return { allowed, remaining, retry }
`

const TAKE_SHA = createHash("sha1").update(TAKE_SCRIPT).digest("hex")

/** In caller-time mode the callers' clocks are not Redis's expiry clock: keep idle keys a minute longer. */
export const CALLER_TIME_EXPIRY_SLACK_MILLIS = 60_000

export const RedisStoreOptions = Schema.Struct({
  keyPrefix: Schema.optionalWith(Schema.String, { default: () => "rampart:rl:" }),
  time: Schema.optionalWith(Schema.Literal("server", "caller"), { default: () => "server" as const })
})
export type RedisStoreOptions = typeof RedisStoreOptions.Type
export type RedisStoreOptionsInput = typeof RedisStoreOptions.Encoded

const decode = decodeOptions("RateLimiterStore.redis", RedisStoreOptions)

const storeError = (cause: unknown): RateLimiterStoreError =>
  new RateLimiterStoreError({ store: "redis", reason: cause instanceof Error ? cause.message : String(cause), cause })

const isNoScript = (error: unknown): boolean => error instanceof Error && error.message.startsWith("NOSCRIPT")

/** The script answers `{ allowed (0/1), remaining, retryAfterMillis }`. */
const toResult = (reply: unknown): TakeResult | Promise<never> => {
  if (Array.isArray(reply) && reply.length === 3) {
    const [allowed, remaining, retryAfterMillis] = reply as Array<unknown>
    if (typeof allowed === "number" && typeof remaining === "number" && typeof retryAfterMillis === "number") {
      return { allowed: allowed === 1, remaining, retryAfterMillis }
    }
  }
  return Promise.reject(new Error(`unexpected script reply ${JSON.stringify(reply)}`))
}

const scriptArgs = (
  config: RateLimitConfig,
  cost: number,
  now: number,
  slack: number
): Array<string | number> => {
  switch (config._tag) {
    case "TokenBucket":
      return ["TB", cost, now, config.capacity, config.refillRate, config.refillPeriodMillis, config.idleTimeoutMillis, slack]
    case "FixedWindow":
      return ["FW", cost, now, config.limit, config.windowMillis, 0, config.idleTimeoutMillis, slack]
    case "SlidingWindow":
      return ["SW", cost, now, config.limit, config.windowMillis, 0, config.idleTimeoutMillis, slack]
  }
}

export const makeRedis = (
  options: RedisStoreOptionsInput = {}
): Effect.Effect<Service, InvalidOptions, RedisConnection> =>
  Effect.gen(function*() {
    const decoded = yield* decode(options)
    const { client } = yield* RedisConnection
    const prefix = decoded.keyPrefix
    const serverTime = decoded.time === "server"
    const slack = serverTime ? 0 : CALLER_TIME_EXPIRY_SLACK_MILLIS
    const take = (
      key: string,
      cost: number,
      nowMillis: number,
      config: RateLimitConfig
    ): Effect.Effect<TakeResult, RateLimiterStoreError> => {
      const args = scriptArgs(config, cost, serverTime ? -1 : Math.max(0, Math.floor(nowMillis)), slack)
      const fullKey = prefix + key
      // One Effect op per call: the NOSCRIPT fallback and the reply check live in the promise.
      return Effect.tryPromise({
        try: () =>
          client.evalsha(TAKE_SHA, 1, fullKey, ...args).catch((error: unknown) =>
            // First use on this server (or after SCRIPT FLUSH / a restart): EVAL caches the script.
            isNoScript(error) ? client.eval(TAKE_SCRIPT, 1, fullKey, ...args) : Promise.reject(error)
          ).then(toResult),
        catch: storeError
      })
    }
    const service: Service = { name: "redis", take }
    return service
  })
