import { describe, expect, it } from "@effect/vitest"
import { InvalidOptions } from "@rampart/core/Options"
import { Effect, FastCheck, Option } from "effect"
import * as HashRing from "../src/HashRing.js"
import { buildRing, ringShares, successor } from "../src/internal/hashRing.js"
import { buildTable } from "../src/internal/maglev.js"
import { sortById } from "../src/internal/nodes.js"
import * as JumpHash from "../src/JumpHash.js"
import * as Maglev from "../src/Maglev.js"
import * as Partitioner from "../src/Partitioner.js"
import * as Rendezvous from "../src/Rendezvous.js"

type AlgorithmOption = Partitioner.PartitionerOptionsInput["algorithm"]
type NodeInput = Partitioner.PartitionNodeInput

const algorithms: ReadonlyArray<AlgorithmOption> = ["hashRing", "rendezvous", "jumpHash", "maglev"]
/** Algorithms whose placement must not depend on the order nodes are listed in (and that take weights). */
const orderFree: ReadonlyArray<AlgorithmOption> = ["hashRing", "rendezvous", "maglev"]
/** Algorithms where any single add or remove moves only the keys of the changed node. */
const minimal: ReadonlyArray<AlgorithmOption> = ["hashRing", "rendezvous"]

const build = (algorithm: AlgorithmOption, nodes: ReadonlyArray<NodeInput>): Partitioner.Partitioner =>
  Effect.runSync(Partitioner.make({ algorithm, nodes: nodes.map((node) => ({ ...node })) } as Partitioner.PartitionerOptionsInput))

const members = (count: number, prefix = "node"): Array<NodeInput> =>
  Array.from({ length: count }, (_, index) => ({ id: `${prefix}-${index}` }))

const makeKeys = (count: number, salt = "k"): Array<string> =>
  Array.from({ length: count }, (_, index) => `${salt}:${index}:${(index * 2654435761) >>> 0}`)

const owners = (partitioner: Partitioner.Partitioner, keys: ReadonlyArray<string>): Array<string> =>
  keys.map((key) => partitioner.unsafeNodeFor(key)!.id)

const loads = (partitioner: Partitioner.Partitioner, keys: ReadonlyArray<string>): Map<string, number> => {
  const counts = new Map<string, number>(partitioner.nodes.map((node) => [node.id, 0]))
  for (const key of keys) {
    const id = partitioner.unsafeNodeFor(key)!.id
    counts.set(id, counts.get(id)! + 1)
  }
  return counts
}

const maxOverMean = (counts: Iterable<number>): number => {
  const values = [...counts]
  const total = values.reduce((sum, value) => sum + value, 0)
  return Math.max(...values) / (total / values.length)
}

const invalid = (options: unknown) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(Partitioner.make(options as Partitioner.PartitionerOptionsInput))
    expect(error).toBeInstanceOf(InvalidOptions)
    return error.message
  })

const nodeIdsArb = FastCheck.uniqueArray(FastCheck.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 20 })

describe("Partitioner", () => {
  describe.each(algorithms)("%s", (algorithm) => {
    it.prop(
      "gives the same key the same node every time and in a rebuilt partitioner",
      [nodeIdsArb, FastCheck.array(FastCheck.string(), { minLength: 1, maxLength: 30 })],
      ([ids, keys]) => {
        const nodes = ids.map((id) => ({ id }))
        const first = build(algorithm, nodes)
        const second = build(algorithm, nodes)
        for (const key of keys) {
          const owner = first.unsafeNodeFor(key)
          expect(owner).toBeDefined()
          expect(ids).toContain(owner!.id)
          expect(first.unsafeNodeFor(key)).toBe(owner)
          expect(second.unsafeNodeFor(key)?.id).toBe(owner!.id)
        }
      },
      { fastCheck: { numRuns: 40 } }
    )

    it.prop(
      "returns distinct member nodes in preference order, the owner first",
      [nodeIdsArb, FastCheck.string(), FastCheck.integer({ min: 0, max: 25 })],
      ([ids, key, count]) => {
        const partitioner = build(algorithm, ids.map((id) => ({ id })))
        const preferred = partitioner.unsafeNodesFor(key, count)
        expect(preferred.length).toBe(Math.min(count, ids.length))
        expect(new Set(preferred.map((node) => node.id)).size).toBe(preferred.length)
        for (const node of preferred) expect(partitioner.nodes).toContain(node)
        if (count > 0) expect(preferred[0]).toBe(partitioner.unsafeNodeFor(key))
        // A longer list extends a shorter one: the order is one ranking.
        expect(partitioner.unsafeNodesFor(key, ids.length).slice(0, preferred.length)).toEqual(preferred)
        expect(Partitioner.nodesFor(partitioner, key, count)).toEqual(preferred)
      },
      { fastCheck: { numRuns: 40 } }
    )

    it.effect("an empty partitioner has no owner for any key", () =>
      Effect.gen(function*() {
        const empty = yield* Partitioner.make({ algorithm, nodes: [] })
        expect(empty.unsafeNodeFor("key")).toBeUndefined()
        expect(Partitioner.nodeFor(empty, "key")).toEqual(Option.none())
        expect(empty.unsafeNodesFor("key", 3)).toEqual([])
        const one = yield* Partitioner.addNode(empty, { id: "only" })
        expect(Partitioner.nodeFor(one, "key")).toEqual(Option.some({ id: "only", weight: 1 }))
        const none = yield* Partitioner.removeNode(one, "only")
        expect(none.unsafeNodeFor("key")).toBeUndefined()
      }))

    it.effect("is an immutable value: membership changes return a new partitioner", () =>
      Effect.gen(function*() {
        const before = yield* Partitioner.make({ algorithm, nodes: members(3) })
        const after = yield* before.pipe(Partitioner.addNode({ id: "extra" }))
        expect(after).not.toBe(before)
        expect(before.nodes.map((node) => node.id)).toEqual(["node-0", "node-1", "node-2"])
        expect(after.nodes.map((node) => node.id)).toEqual(["node-0", "node-1", "node-2", "extra"])
        expect(after.options).toEqual({ ...before.options, nodes: after.nodes })
        expect(Object.isFrozen(before.nodes)).toBe(true)
        expect(Object.isFrozen(before.nodes[0])).toBe(true)
        expect(Partitioner.isPartitioner(before)).toBe(true)
        expect(Partitioner.isPartitioner({ nodes: [] })).toBe(false)
      }))

    it.prop(
      "after any sequence of adds and removes places keys as a partitioner built fresh from the same members",
      [FastCheck.array(FastCheck.tuple(FastCheck.boolean(), FastCheck.integer({ min: 0, max: 11 })), { maxLength: 12 })],
      ([commands]) => {
        const keys = makeKeys(200, "model")
        let partitioner = build(algorithm, [])
        let model: Array<string> = []
        for (const [adding, index] of commands) {
          const id = `n${index}`
          if (adding && !model.includes(id)) {
            partitioner = Effect.runSync(Partitioner.addNode(partitioner, { id }))
            model = [...model, id]
          } else if (!adding && model.includes(id)) {
            partitioner = Effect.runSync(Partitioner.removeNode(partitioner, id))
            model = model.filter((other) => other !== id)
          } else {
            continue
          }
          expect(partitioner.nodes.map((node) => node.id)).toEqual(model)
          const order = orderFree.includes(algorithm) ? [...model].reverse() : model
          const fresh = build(algorithm, order.map((member) => ({ id: member })))
          for (const key of keys) expect(partitioner.unsafeNodeFor(key)?.id).toBe(fresh.unsafeNodeFor(key)?.id)
        }
      },
      { fastCheck: { numRuns: 25 } }
    )

    it("keeps the most loaded node within 10% of the mean for 10, 50 and 100 nodes", () => {
      for (const [count, keyCount] of [[10, 100_000], [50, 100_000], [100, 300_000]] as const) {
        const partitioner = build(algorithm, members(count, `balance-${count}`))
        expect(maxOverMean(loads(partitioner, makeKeys(keyCount, "balance")).values())).toBeLessThanOrEqual(1.1)
      }
    })
  })

  describe.each(orderFree)("%s", (algorithm) => {
    it.prop(
      "does not depend on the order nodes are listed in",
      [nodeIdsArb.chain((ids) => FastCheck.tuple(FastCheck.constant(ids), FastCheck.shuffledSubarray(ids, { minLength: ids.length })))],
      ([[ids, shuffled]]) => {
        const keys = makeKeys(300, "order")
        const weights = (id: string) => 1 + (id.length % 3)
        const nodes = ids.map((id) => ({ id, weight: weights(id) }))
        const reordered = shuffled.map((id) => ({ id, weight: weights(id) }))
        expect(owners(build(algorithm, reordered), keys)).toEqual(owners(build(algorithm, nodes), keys))
      },
      { fastCheck: { numRuns: 30 } }
    )

    it("gives a node of weight 2 about twice the keys of a node of weight 1", () => {
      const nodes = members(8, "weighted").map((node, index) => (index === 3 ? { ...node, weight: 2 } : node))
      const counts = loads(build(algorithm, nodes), makeKeys(200_000, "weights"))
      const heavy = counts.get("weighted-3")!
      const others = [...counts].filter(([id]) => id !== "weighted-3").map(([, count]) => count)
      const ratio = heavy / (others.reduce((sum, count) => sum + count, 0) / others.length)
      expect(ratio).toBeGreaterThan(1.85)
      expect(ratio).toBeLessThan(2.15)
    })
  })

  describe.each(minimal)("%s", (algorithm) => {
    it.prop(
      "adding a node moves only keys that now belong to the new node",
      [nodeIdsArb, FastCheck.string({ minLength: 1 })],
      ([ids, extra]) => {
        FastCheck.pre(!ids.includes(extra))
        const keys = makeKeys(1000, "add")
        const before = build(algorithm, ids.map((id) => ({ id })))
        const after = Effect.runSync(Partitioner.addNode(before, { id: extra }))
        const was = owners(before, keys)
        owners(after, keys).forEach((owner, index) => {
          if (owner !== was[index]) expect(owner).toBe(extra)
        })
      },
      { fastCheck: { numRuns: 30 } }
    )

    it.prop(
      "removing a node moves only its keys, each to its next preference",
      [nodeIdsArb.filter((ids) => ids.length >= 2), FastCheck.nat()],
      ([ids, pick]) => {
        const removed = ids[pick % ids.length]!
        const keys = makeKeys(1000, "remove")
        const before = build(algorithm, ids.map((id) => ({ id })))
        const after = Effect.runSync(Partitioner.removeNode(before, removed))
        for (const key of keys) {
          const [first, second] = before.unsafeNodesFor(key, 2)
          expect(after.unsafeNodeFor(key)?.id).toBe(first!.id === removed ? second!.id : first!.id)
        }
      },
      { fastCheck: { numRuns: 30 } }
    )

    it("raising one node's weight moves keys only to that node", () => {
      const keys = makeKeys(20_000, "reweight")
      const nodes = members(10, "reweight")
      const before = build(algorithm, nodes)
      const after = build(algorithm, nodes.map((node, index) => (index === 4 ? { ...node, weight: 3 } : node)))
      const was = owners(before, keys)
      const moved = owners(after, keys).filter((owner, index) => owner !== was[index])
      expect(moved.length).toBeGreaterThan(0)
      for (const owner of moved) expect(owner).toBe("reweight-4")
    })
  })

  describe("membership changes", () => {
    const movedFraction = (algorithm: AlgorithmOption, count: number) => {
      const keys = makeKeys(100_000, "moved")
      const before = build(algorithm, members(count, "member"))
      const after = Effect.runSync(Partitioner.addNode(before, { id: "newcomer" }))
      const was = owners(before, keys)
      let moved = 0
      let toNewcomer = 0
      owners(after, keys).forEach((owner, index) => {
        if (owner !== was[index]) {
          moved++
          if (owner === "newcomer") toNewcomer++
        }
      })
      return { movedOverFair: moved / (keys.length / (count + 1)), toNewcomer: toNewcomer / Math.max(moved, 1) }
    }

    it.each([10, 50, 100])("adding a node to %d moves about K/(n+1) keys (hashRing, rendezvous, jumpHash)", (count) => {
      for (const algorithm of ["hashRing", "rendezvous", "jumpHash"] as const) {
        const { movedOverFair, toNewcomer } = movedFraction(algorithm, count)
        expect(toNewcomer).toBe(1)
        expect(movedOverFair).toBeGreaterThan(0.85)
        expect(movedOverFair).toBeLessThan(1.1)
      }
    })

    it.each([10, 50, 100])("adding a node to %d Maglev nodes moves somewhat more than K/(n+1), mostly to it", (count) => {
      const { movedOverFair, toNewcomer } = movedFraction("maglev", count)
      expect(movedOverFair).toBeGreaterThan(0.9)
      expect(movedOverFair).toBeLessThan(2)
      expect(toNewcomer).toBeGreaterThan(0.5)
    })

    it("jump hash: removing the last node moves only its keys; removing a middle node remaps later buckets", () => {
      const keys = makeKeys(20_000, "jump")
      const before = build("jumpHash", members(10))
      const was = owners(before, keys)
      const withoutLast = Effect.runSync(Partitioner.removeNode(before, "node-9"))
      owners(withoutLast, keys).forEach((owner, index) => {
        if (was[index] !== "node-9") expect(owner).toBe(was[index])
      })
      const withoutMiddle = Effect.runSync(Partitioner.removeNode(before, "node-2"))
      const movedBetweenSurvivors = owners(withoutMiddle, keys).filter((owner, index) =>
        was[index] !== "node-2" && owner !== was[index]
      ).length
      expect(movedBetweenSurvivors).toBeGreaterThan(keys.length * 0.3)
    })
  })

  describe("the structures", () => {
    it.prop(
      "the ring lookup finds the first point at or after the hash, wrapping past the last",
      [nodeIdsArb, FastCheck.integer({ min: 1, max: 300 }), FastCheck.array(FastCheck.integer({ min: 0, max: 0xffffffff }), { maxLength: 50 })],
      ([ids, virtualNodes, hashes]) => {
        const ring = buildRing(ids.map((id) => ({ id, weight: 1 })), virtualNodes, 0)
        for (const hash of [...hashes, 0, 0xffffffff, ring.points[0]!, ring.points[ring.points.length - 1]!]) {
          const naive = ring.points.findIndex((point) => point >= hash)
          expect(successor(ring, hash)).toBe(naive === -1 ? 0 : naive)
        }
      },
      { fastCheck: { numRuns: 100 } }
    )

    it("the default hash ring gives no node more than 1.10 × its fair share of the ring", () => {
      for (const count of [10, 50, 100]) {
        for (const round of [0, 1, 2]) {
          const nodes = members(count, `10.0.${round}.`).map((node) => ({ ...node, weight: 1 }))
          const shares = ringShares(buildRing(nodes, HashRing.defaultVirtualNodes, 0))
          expect(Math.max(...shares) * count).toBeLessThanOrEqual(1.1)
        }
      }
    })

    it("a Maglev table gives equal-weight nodes slot counts that differ by at most one", () => {
      for (const count of [10, 50, 100, 600]) {
        const nodes = sortById(members(count, "slot").map((node) => ({ ...node, weight: 1 })))
        const table = buildTable(nodes, Maglev.defaultTableSize, 0)
        const counts = new Array<number>(count).fill(0)
        for (const rank of table) counts[rank]!++
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1)
      }
    })
  })

  describe("placement is a stable format", () => {
    // Every process and every Rampart version must put a key on the same node. These placements
    // (first letter of the owner's id for user:0 .. user:11) must never change.
    const golden: ReadonlyArray<readonly [string, Partitioner.PartitionerOptionsInput, string]> = [
      ["hashRing", { algorithm: "hashRing", nodes: [] }, "ccdeeddaeaee"],
      ["rendezvous", { algorithm: "rendezvous", nodes: [] }, "debdaeceddda"],
      ["jumpHash", { algorithm: "jumpHash", nodes: [] }, "ecabcbdeecda"],
      ["maglev", { algorithm: "maglev", nodes: [] }, "ddcbbcdcbbda"],
      ["weighted rendezvous", { algorithm: "rendezvous", nodes: [] }, "debddecedddc"]
    ]
    it.each(golden)("%s places the same keys on the same nodes as when it was written", (label, options, expected) => {
      const ids = ["alpha", "bravo", "charlie", "delta", "echo"]
      const nodes = ids.map((id, index) => (label.startsWith("weighted") ? { id, weight: index + 1 } : { id }))
      const partitioner = Effect.runSync(Partitioner.make({ ...options, nodes } as Partitioner.PartitionerOptionsInput))
      const placed = Array.from({ length: 12 }, (_, index) => partitioner.unsafeNodeFor(`user:${index}`)!.id[0]).join("")
      expect(placed).toBe(expected)
    })
  })

  describe("the algorithm modules", () => {
    it.effect("build the same partitioners as Partitioner.make", () =>
      Effect.gen(function*() {
        const nodes = members(7, "module")
        const keys = makeKeys(500, "module")
        const pairs = [
          [yield* HashRing.make({ nodes, virtualNodes: 100 }), yield* Partitioner.make({ algorithm: "hashRing", nodes, virtualNodes: 100 })],
          [yield* Rendezvous.make({ nodes, seed: 7 }), yield* Partitioner.make({ algorithm: "rendezvous", nodes, seed: 7 })],
          [yield* JumpHash.make({ nodes }), yield* Partitioner.make({ algorithm: "jumpHash", nodes })],
          [yield* Maglev.make({ nodes, tableSize: 1009 }), yield* Partitioner.make({ algorithm: "maglev", nodes, tableSize: 1009 })]
        ] as const
        for (const [fromModule, fromPartitioner] of pairs) {
          expect(fromModule.algorithm).toBe(fromPartitioner.algorithm)
          expect(owners(fromModule, keys)).toEqual(owners(fromPartitioner, keys))
        }
        expect(pairs.map(([partitioner]) => partitioner.algorithm)).toEqual(["HashRing", "Rendezvous", "JumpHash", "Maglev"])
      }))

    it("JumpHash.bucketFor agrees with a jump-hash partitioner", () => {
      const partitioner = build("jumpHash", members(13))
      for (const key of makeKeys(500, "bucket")) {
        expect(partitioner.unsafeNodeFor(key)?.id).toBe(`node-${JumpHash.bucketFor(key, 13)}`)
      }
    })

    it("a different seed gives an independent placement", () => {
      const keys = makeKeys(5000, "seed")
      const nodes = members(10)
      const seeded = owners(Effect.runSync(Rendezvous.make({ nodes, seed: 12345 })), keys)
      const unseeded = owners(build("rendezvous", nodes), keys)
      const same = seeded.filter((owner, index) => owner === unseeded[index])
      expect(same.length / keys.length).toBeLessThan(0.2)
    })
  })

  describe("bad options", () => {
    it.effect("names the offending field", () =>
      Effect.gen(function*() {
        expect(yield* invalid({ algorithm: "hashRing", nodes: [{ id: "a" }, { id: "b" }, { id: "a" }] }))
          .toContain(`nodes.2.id: Expected unique node ids, "a" is repeated`)
        expect(yield* invalid({ algorithm: "rendezvous", nodes: [{ id: "" }] })).toContain("nodes.0.id")
        for (const weight of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
          expect(yield* invalid({ algorithm: "rendezvous", nodes: [{ id: "a", weight }] })).toContain("nodes.0.weight")
        }
        expect(yield* invalid({ algorithm: "jumpHash", nodes: [{ id: "a" }, { id: "b", weight: 2 }] }))
          .toContain("nodes.1.weight: JumpHash does not support weights")
        expect(yield* invalid({ algorithm: "maglev", nodes: [{ id: "a" }], tableSize: 65536 }))
          .toContain("tableSize: Expected a prime table size")
        expect(yield* invalid({ algorithm: "maglev", nodes: members(2), tableSize: 101 }))
          .toContain("tableSize: Expected a table size of at least 100 × nodes (200)")
        expect(yield* invalid({ algorithm: "hashRing", nodes: [], virtualNodes: 0 })).toContain("virtualNodes")
        expect(yield* invalid({ algorithm: "hashRing", nodes: members(3), virtualNodes: 10_000_000 }))
          .toContain("virtualNodes: Expected at most 16000000 ring points")
        expect(yield* invalid({ algorithm: "rendezvous", nodes: [], seed: -1 })).toContain("seed")
        expect(yield* invalid({ algorithm: "consistent", nodes: [] })).toContain("algorithm")
        expect(yield* invalid({ algorithm: "rendezvous", nodes: [], virtualNodes: 5 })).toContain("virtualNodes")
        expect(yield* invalid({ algorithm: "rendezvous" })).toContain("nodes")
      }))

    it.effect("rejects duplicate and unknown nodes in membership changes", () =>
      Effect.gen(function*() {
        const partitioner = yield* Partitioner.make({ algorithm: "rendezvous", nodes: members(2) })
        const duplicate = yield* Effect.flip(Partitioner.addNode(partitioner, { id: "node-0" }))
        expect(duplicate.message).toContain("nodes.2.id")
        const unknown = yield* Effect.flip(Partitioner.removeNode(partitioner, "node-7"))
        expect(unknown.message).toContain(`nodeId: Expected the id of a member node, actual "node-7"`)
        const weights = yield* Effect.flip(Partitioner.withNodes(partitioner, [{ id: "x", weight: 0 }]))
        expect(weights.message).toContain("nodes.0.weight")
      }))

    it.effect("the algorithm modules report under their own name", () =>
      Effect.gen(function*() {
        const ring = yield* Effect.flip(HashRing.make({ nodes: [{ id: "a" }, { id: "a" }] }))
        expect(ring.message).toMatch(/^invalid HashRing options: nodes\.1\.id/)
        const jump = yield* Effect.flip(JumpHash.make({ nodes: [{ id: "a", weight: 0.5 }] }))
        expect(jump.message).toMatch(/^invalid JumpHash options: nodes\.0\.weight/)
        const maglev = yield* Effect.flip(Maglev.make({ nodes: [], tableSize: 100 }))
        expect(maglev.message).toMatch(/^invalid Maglev options: tableSize/)
        const rendezvous = yield* Effect.flip(Rendezvous.make({ nodes: [{ id: "" }] }))
        expect(rendezvous.message).toMatch(/^invalid Rendezvous options: nodes\.0\.id/)
      }))
  })
})
