import { describe, expect, it } from "@effect/vitest"
import { InvalidOptions } from "@rampart/core/Options"
import { Effect, Encoding, FastCheck } from "effect"
import * as BloomFilter from "../src/BloomFilter.js"

const make = (options: BloomFilter.BloomFilterOptionsInput) => Effect.runSync(BloomFilter.make(options))

const filled = (items: ReadonlyArray<string>, options: BloomFilter.BloomFilterOptionsInput = { expectedItems: 100, falsePositiveRate: 0.01 }) => {
  const filter = make(options)
  for (const item of items) filter.unsafeAdd(item)
  return filter
}

const items = FastCheck.array(FastCheck.string({ maxLength: 20 }), { maxLength: 150 })

const invalid = (options: unknown) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(BloomFilter.make(options as BloomFilter.BloomFilterOptionsInput))
    expect(error).toBeInstanceOf(InvalidOptions)
    return error.message
  })

const decodeError = (bytes: Uint8Array) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(BloomFilter.fromBytes(bytes))
    expect(error).toBeInstanceOf(BloomFilter.BloomFilterDecodeError)
    expect(error._tag).toBe("BloomFilterDecodeError")
    return error.message
  })

describe("BloomFilter", () => {
  it("sizes itself optimally: about 9.59 bits per item and 7 probes for a 1% rate", () => {
    const filter = make({ expectedItems: 1_000_000, falsePositiveRate: 0.01 })
    expect(filter.bitCount / 1_000_000).toBeLessThanOrEqual(9.6)
    expect(filter.bitCount / 1_000_000).toBeGreaterThan(9.58)
    expect(filter.hashCount).toBe(7)
    expect(filter.bitCount % 8).toBe(0)
    expect(BloomFilter.optimalSize(1000, 0.001)).toEqual({ bitCount: 14384, hashCount: 10 })
  })

  it.prop("never reports an added item absent", [items, FastCheck.integer({ min: 1, max: 200 })], ([added, expected]) => {
    const filter = filled(added, { expectedItems: expected, falsePositiveRate: 0.05 })
    for (const item of added) expect(filter.unsafeMightContain(item)).toBe(true)
  }, { fastCheck: { numRuns: 200 } })

  it.effect("adds and queries through the Effect API", () =>
    Effect.gen(function*() {
      const filter = yield* BloomFilter.make({ expectedItems: 1000, falsePositiveRate: 0.01, seed: 99 })
      expect(BloomFilter.isBloomFilter(filter)).toBe(true)
      expect(BloomFilter.isBloomFilter({})).toBe(false)
      expect(yield* BloomFilter.mightContain(filter, "user:1")).toBe(false)
      expect(yield* BloomFilter.add(filter, "user:1")).toBe(true)
      expect(yield* BloomFilter.add(filter, "user:1")).toBe(false)
      expect(yield* BloomFilter.mightContain("user:1")(filter)).toBe(true)
      yield* BloomFilter.addAll(filter, ["user:2", "user:3"])
      expect(filter.unsafeInsertions()).toBe(4)
      expect(yield* BloomFilter.approximateCount(filter)).toBe(3)
      expect(yield* BloomFilter.falsePositiveRate(filter)).toBeLessThan(1e-6)
    }))

  it("measures close to the target false-positive rate at capacity, and estimates its count and rate", () => {
    const filter = make({ expectedItems: 100_000, falsePositiveRate: 0.01 })
    for (let index = 0; index < 100_000; index++) filter.unsafeAdd(`member:${index}`)
    let falsePositives = 0
    for (let index = 0; index < 100_000; index++) if (filter.unsafeMightContain(`stranger:${index}`)) falsePositives++
    expect(falsePositives / 100_000).toBeGreaterThan(0.008)
    expect(falsePositives / 100_000).toBeLessThan(0.012)
    expect(Math.abs(filter.unsafeApproximateCount() - 100_000)).toBeLessThan(2000)
    expect(filter.unsafeFalsePositiveRate()).toBeGreaterThan(0.009)
    expect(filter.unsafeFalsePositiveRate()).toBeLessThan(0.011)
  })

  describe("merge", () => {
    it.prop("is the union: the same bits as one filter given both sets of items", [items, items], ([left, right]) => {
      const merged = Effect.runSync(BloomFilter.merge(filled(left), filled(right)))
      const both = filled([...left, ...right])
      expect(BloomFilter.unsafeToBytes(merged)).toEqual(BloomFilter.unsafeToBytes(both))
      expect(merged.unsafeSetBits()).toBe(both.unsafeSetBits())
      for (const item of [...left, ...right]) expect(merged.unsafeMightContain(item)).toBe(true)
    }, { fastCheck: { numRuns: 100 } })

    it.effect("leaves both inputs unchanged", () =>
      Effect.gen(function*() {
        const left = filled(["a"])
        const right = filled(["b"])
        const before = BloomFilter.unsafeToBytes(left)
        const merged = yield* left.pipe(BloomFilter.merge(right))
        expect(merged).not.toBe(left)
        expect(BloomFilter.unsafeToBytes(left)).toEqual(before)
        expect(left.unsafeMightContain("b") && right.unsafeMightContain("a")).toBe(false)
      }))

    it.effect("fails with BloomFilterMismatch naming the field when the shapes differ", () =>
      Effect.gen(function*() {
        const base = make({ expectedItems: 100, falsePositiveRate: 0.01 })
        const bigger = yield* Effect.flip(BloomFilter.merge(base, make({ expectedItems: 200, falsePositiveRate: 0.01 })))
        expect(bigger).toBeInstanceOf(BloomFilter.BloomFilterMismatch)
        expect(bigger.field).toBe("bitCount")
        const seeded = yield* Effect.flip(BloomFilter.merge(base, make({ expectedItems: 100, falsePositiveRate: 0.01, seed: 1 })))
        expect(seeded.field).toBe("seed")
        expect(seeded.message).toBe("cannot merge Bloom filters with different seed (0 vs 1)")
      }))
  })

  describe("serialised form", () => {
    it.prop(
      "round-trips through bytes and base64 with the same answers",
      [items, items, FastCheck.integer({ min: 0, max: 0xffffffff })],
      ([added, probes, seed]) => {
        const filter = filled(added, { expectedItems: 64, falsePositiveRate: 0.02, seed })
        const bytes = BloomFilter.unsafeToBytes(filter)
        const fromBytes = Effect.runSync(BloomFilter.fromBytes(bytes))
        const fromText = Effect.runSync(BloomFilter.fromBase64(BloomFilter.unsafeToBase64(filter)))
        for (const loaded of [fromBytes, fromText]) {
          expect(loaded.bitCount).toBe(filter.bitCount)
          expect(loaded.hashCount).toBe(filter.hashCount)
          expect(loaded.seed).toBe(seed)
          expect(loaded.unsafeInsertions()).toBe(added.length)
          expect(loaded.unsafeSetBits()).toBe(filter.unsafeSetBits())
          for (const item of [...added, ...probes]) {
            expect(loaded.unsafeMightContain(item)).toBe(filter.unsafeMightContain(item))
          }
        }
        // The loaded filter owns a copy: adding to it does not change the source bytes.
        fromBytes.unsafeAdd("after-load")
        expect(BloomFilter.unsafeToBytes(filter)).toEqual(bytes)
      },
      { fastCheck: { numRuns: 100 } }
    )

    it.effect("has a stable layout: a filter serialised by any version decodes identically", () =>
      Effect.gen(function*() {
        // expectedItems 10, rate 0.1, seed 0, items alpha, beta, gamma. This string must never change.
        const golden = "UkJMRgEBAwAwAAAAAAAAAAAAAAAAAAhAABEAJiBkUvZy0g=="
        const filter = filled(["alpha", "beta", "gamma"], { expectedItems: 10, falsePositiveRate: 0.1 })
        expect(yield* BloomFilter.toBase64(filter)).toBe(golden)
        const loaded = yield* BloomFilter.fromBase64(golden)
        expect(["alpha", "beta", "gamma"].every(loaded.unsafeMightContain)).toBe(true)
        expect((yield* BloomFilter.toBytes(loaded)).slice(0, 4)).toEqual(new TextEncoder().encode("RBLF"))
      }))

    it.effect("rejects corrupt or foreign input with BloomFilterDecodeError", () =>
      Effect.gen(function*() {
        const good = BloomFilter.unsafeToBytes(filled(["x", "y"]))
        const withByte = (offset: number, value: number) => {
          const copy = good.slice()
          copy[offset] = value
          return copy
        }
        expect(yield* decodeError(new Uint8Array(0))).toContain("expected at least 28 bytes")
        expect(yield* decodeError(withByte(0, 0x00))).toContain("bad magic")
        expect(yield* decodeError(withByte(4, 2))).toContain("unsupported version 2")
        expect(yield* decodeError(withByte(5, 9))).toContain("unsupported hash scheme 9")
        expect(yield* decodeError(withByte(6, 0))).toContain("hash count 0")
        expect(yield* decodeError(withByte(8, good[8]! + 1))).toContain("not a positive multiple of 8")
        expect(yield* decodeError(good.subarray(0, good.length - 1))).toContain("bytes for")
        expect(yield* decodeError(withByte(30, good[30]! ^ 0x10))).toContain("checksum mismatch")
        expect(yield* decodeError(withByte(16, 0x01))).toContain("checksum mismatch")
        const notBase64 = yield* Effect.flip(BloomFilter.fromBase64("%%%"))
        expect(notBase64.reason).toBe("not valid base64")
        const shortBase64 = yield* Effect.flip(BloomFilter.fromBase64(Encoding.encodeBase64("RBLF")))
        expect(shortBase64._tag).toBe("BloomFilterDecodeError")
      }))

    it.prop("never accepts a single flipped bit", [FastCheck.nat(), FastCheck.integer({ min: 0, max: 7 })], ([at, bit]) => {
      const good = BloomFilter.unsafeToBytes(filled(["a", "b", "c"]))
      const corrupt = good.slice()
      corrupt[at % corrupt.length]! ^= 1 << bit
      const result = Effect.runSync(Effect.either(BloomFilter.fromBytes(corrupt)))
      expect(result._tag).toBe("Left")
    })
  })

  describe("bad options", () => {
    it.effect("names the offending field", () =>
      Effect.gen(function*() {
        expect(yield* invalid({ expectedItems: 0, falsePositiveRate: 0.01 })).toContain("expectedItems")
        expect(yield* invalid({ expectedItems: 1.5, falsePositiveRate: 0.01 })).toContain("expectedItems")
        for (const falsePositiveRate of [0, 0.5, 1, -0.1, Number.NaN]) {
          expect(yield* invalid({ expectedItems: 10, falsePositiveRate })).toContain("falsePositiveRate")
        }
        expect(yield* invalid({ expectedItems: 10, falsePositiveRate: 0.01, seed: -1 })).toContain("seed")
        expect(yield* invalid({ expectedItems: 10, falsePositiveRate: 0.01, size: 5 })).toContain("size")
        expect(yield* invalid({ expectedItems: 1e12, falsePositiveRate: 0.01 })).toContain("expectedItems: Expected a filter of at most")
        expect(yield* invalid({ falsePositiveRate: 0.01 })).toMatch(/^invalid BloomFilter options: expectedItems/)
      }))
  })
})
