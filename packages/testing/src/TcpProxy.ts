/**
 * A TCP proxy on a loopback ephemeral port in front of a real server, for cutting one client's
 * link while the server and its other clients carry on: `cut` destroys every proxied connection
 * and refuses new ones, `restore` accepts again. Point the client under test at the proxy and
 * everything else at the server.
 *
 * @since 0.1.0
 */
import { Effect, type Scope } from "effect"
import * as Net from "node:net"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = Symbol.for("@rampart/testing/TcpProxy")

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * A running proxy.
 *
 * @since 0.1.0
 * @category models
 */
export interface TcpProxy {
  readonly [TypeId]: TypeId
  readonly host: "127.0.0.1"
  /** The port clients connect to. */
  readonly port: number
  /** The port connections are forwarded to, on 127.0.0.1. */
  readonly targetPort: number
  /** Destroys every open connection (both sides) and refuses new ones until `restore`. */
  readonly cut: Effect.Effect<void>
  /** Accepts and forwards connections again. */
  readonly restore: Effect.Effect<void>
  /** Connections accepted so far (a reconnecting client makes new ones). */
  readonly accepted: Effect.Effect<number>
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isTcpProxy = (u: unknown): u is TcpProxy => typeof u === "object" && u !== null && TypeId in u

/**
 * Starts a proxy from a fresh loopback port to `127.0.0.1:targetPort`; it closes (with every
 * connection) when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const server = yield* EtcdServer.start()
 * const proxy = yield* TcpProxy.start(server.clientPort)
 * // the client under test dials http://127.0.0.1:${proxy.port}
 * yield* proxy.cut
 * yield* proxy.restore
 */
export const start = (targetPort: number): Effect.Effect<TcpProxy, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const sockets = new Set<Net.Socket>()
    let open = true
    let accepted = 0
    const destroyAll = () => {
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    }
    const server = Net.createServer((client) => {
      if (!open) {
        client.destroy()
        return
      }
      accepted++
      const upstream = Net.connect(targetPort, "127.0.0.1")
      sockets.add(client)
      sockets.add(upstream)
      const close = () => {
        client.destroy()
        upstream.destroy()
        sockets.delete(client)
        sockets.delete(upstream)
      }
      client.on("error", close).on("close", close)
      upstream.on("error", close).on("close", close)
      client.pipe(upstream)
      upstream.pipe(client)
    })
    const port = yield* Effect.acquireRelease(
      Effect.async<number, Error>((resume) => {
        server.once("error", (error) => resume(Effect.fail(error)))
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          resume(
            typeof address === "object" && address !== null
              ? Effect.succeed(address.port)
              : Effect.fail(new Error("no port assigned"))
          )
        })
      }),
      () =>
        Effect.async<void>((resume) => {
          open = false
          destroyAll()
          server.close(() => resume(Effect.void))
        })
    )
    const proxy: TcpProxy = {
      [TypeId]: TypeId,
      host: "127.0.0.1",
      port,
      targetPort,
      cut: Effect.sync(() => {
        open = false
        destroyAll()
      }),
      restore: Effect.sync(() => {
        open = true
      }),
      accepted: Effect.sync(() => accepted)
    }
    return proxy
  })
