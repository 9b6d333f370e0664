import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Net from "node:net"
import { TcpProxy } from "../src/index.js"

/** An echo server on a loopback ephemeral port, closed with the scope. */
const echoServer = Effect.acquireRelease(
  Effect.async<Net.Server>((resume) => {
    const server = Net.createServer((socket) => socket.pipe(socket))
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

const portOf = (server: Net.Server): number => {
  const address = server.address()
  return typeof address === "object" && address !== null ? address.port : 0
}

/** Connects, writes `text`, and resolves with the echo, or with "closed" / "refused". */
const roundTrip = (port: number, text: string) =>
  Effect.async<string>((resume) => {
    const socket = Net.connect(port, "127.0.0.1")
    let received = ""
    socket.on("connect", () => socket.write(text))
    socket.on("data", (data) => {
      received += data.toString("utf8")
      if (received.length >= text.length) {
        socket.destroy()
        resume(Effect.succeed(received))
      }
    })
    socket.on("error", () => resume(Effect.succeed("refused")))
    socket.on("close", () => resume(Effect.succeed(received === "" ? "closed" : received)))
  })

/** A connection that stays open; resolves "closed" when the proxy drops it. */
const held = (port: number) =>
  Effect.async<Effect.Effect<string>>((resume) => {
    const socket = Net.connect(port, "127.0.0.1")
    socket.on("connect", () =>
      resume(Effect.succeed(Effect.async<string>((done) => {
        socket.on("close", () => done(Effect.succeed("closed")))
      }))))
  })

describe("TcpProxy", () => {
  it.scopedLive("forwards to the target, cuts open connections, refuses while cut, and restores", () =>
    Effect.gen(function*() {
      const echo = yield* echoServer
      const proxy = yield* TcpProxy.start(portOf(echo))
      expect(TcpProxy.isTcpProxy(proxy)).toBe(true)
      expect(proxy.host).toBe("127.0.0.1")
      expect(proxy.port).not.toBe(proxy.targetPort)
      expect(yield* roundTrip(proxy.port, "hello")).toBe("hello")
      const waitClosed = yield* held(proxy.port)
      yield* proxy.cut
      expect(yield* waitClosed).toBe("closed")
      expect(["closed", "refused"]).toContain(yield* roundTrip(proxy.port, "again"))
      yield* proxy.restore
      expect(yield* roundTrip(proxy.port, "back")).toBe("back")
      expect(yield* proxy.accepted).toBe(3)
    }))
})
