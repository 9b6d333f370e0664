import { Redis } from "@rampart/core"
import type { RedisServer } from "@rampart/testing"
import { Effect } from "effect"

/** How many times a server ran a command (`INFO commandstats`), read on a fresh connection. */
export const commandCalls = (server: RedisServer.RedisServer, command: string) =>
  Effect.scoped(
    Effect.gen(function*() {
      const client = yield* Redis.connect({ url: server.url, name: "stats" })
      const info = yield* Redis.use("info", () => client.info("commandstats"))
      const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)
      return match === null ? 0 : Number(match[1])
    })
  )
