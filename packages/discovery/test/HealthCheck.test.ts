import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck, Stream, TestClock } from "effect"
import { InvalidOptions } from "../src/Errors.js"
import * as HealthCheck from "../src/HealthCheck.js"
import { metricValue } from "./support/metrics.js"

type Status = HealthCheck.HealthStatus

/** Yields enough turns for the checker's fiber to finish what the clock just woke it for. */
const settle = Effect.gen(function*() {
  for (let turn = 0; turn < 10; turn++) yield* Effect.yieldNow()
})

/** Moves the TestClock by `seconds`, one second at a time, letting the checker run at each step. */
const advance = (seconds: number) =>
  Effect.gen(function*() {
    for (let second = 0; second < seconds; second++) {
      yield* TestClock.adjust("1 second")
      yield* settle
    }
  })

/** A probe whose n-th run (from 0) returns `script(n)`; counts its runs. */
const scripted = (script: (run: number) => Status) => {
  const state = { runs: 0 }
  const probe: HealthCheck.Probe = Effect.sync(() => {
    const status = script(state.runs)
    state.runs++
    return { status, output: `run ${state.runs}: ${status}` }
  })
  return { probe, state }
}

/** A sink that records what it is told. `reports[0]` is the initial status. */
const recordingSink = () => {
  const reports: Array<Status> = []
  const outputs: Array<string> = []
  const state = { deregistrations: 0 }
  const sink: HealthCheck.HealthSink = {
    setStatus: (status, output) =>
      Effect.sync(() => {
        reports.push(status)
        outputs.push(output)
      }),
    deregister: Effect.sync(() => {
      state.deregistrations++
    })
  }
  return { sink, reports, outputs, state }
}

const collectEvents = (checker: HealthCheck.HealthChecker) =>
  Effect.gen(function*() {
    const seen: Array<HealthCheck.HealthCheckEvent> = []
    yield* Effect.forkScoped(Stream.runForEach(checker.events, (event) => Effect.sync(() => seen.push(event))))
    yield* settle
    return seen
  })

const invalid = (options: HealthCheck.HealthCheckOptionsInput) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(HealthCheck.run(Effect.succeed({ status: "passing", output: "" }), recordingSink().sink, options))
    expect(error).toBeInstanceOf(InvalidOptions)
    return error.message
  }).pipe(Effect.scoped)

const counterValue = (name: string, labels: Record<string, string>) =>
  metricValue(name, labels, { exactLabels: true })

describe("HealthCheck thresholds", () => {
  it.scoped("reports the initial status at start and probes at once, then every interval", () =>
    Effect.gen(function*() {
      const { probe, state } = scripted(() => "passing")
      const { reports, sink } = recordingSink()
      const checker = yield* HealthCheck.run(probe, sink, { name: "start", interval: "10 seconds" })
      yield* settle
      expect(state.runs).toBe(1)
      expect(reports).toEqual(["critical", "passing"])
      yield* advance(9)
      expect(state.runs).toBe(1)
      yield* advance(1)
      expect(state.runs).toBe(2)
      yield* advance(30)
      expect(state.runs).toBe(5)
      expect(yield* checker.status).toBe("passing")
      expect(reports).toEqual(["critical", "passing"])
    }))

  it.scoped("with failThreshold 3, two failures keep it passing and the third reports critical", () =>
    Effect.gen(function*() {
      const { probe } = scripted((run) => (run === 0 ? "passing" : "critical"))
      const { reports, sink } = recordingSink()
      const checker = yield* HealthCheck.run(probe, sink, {
        name: "fail-threshold",
        interval: "10 seconds",
        failThreshold: 3,
        initialStatus: "passing"
      })
      yield* settle
      yield* advance(20)
      expect(checker.unsafeStatus()).toBe("passing")
      expect(reports).toEqual(["passing"])
      yield* advance(10)
      expect(checker.unsafeStatus()).toBe("critical")
      expect(reports).toEqual(["passing", "critical"])
    }))

  it.scoped("a pass in between restarts the count of failures", () =>
    Effect.gen(function*() {
      const script: ReadonlyArray<Status> = ["critical", "critical", "passing", "critical", "critical", "critical"]
      const { probe } = scripted((run) => script[run] ?? "critical")
      const { reports, sink } = recordingSink()
      yield* HealthCheck.run(probe, sink, { name: "fail-reset", interval: 10, failThreshold: 3, initialStatus: "passing" })
      yield* settle
      for (let run = 1; run < 5; run++) yield* TestClock.adjust(10).pipe(Effect.zipRight(settle))
      expect(reports).toEqual(["passing"])
      yield* TestClock.adjust(10).pipe(Effect.zipRight(settle))
      expect(reports).toEqual(["passing", "critical"])
    }))

  it.scoped("with passThreshold 3, returns to passing only after three passes in a row", () =>
    Effect.gen(function*() {
      const script: ReadonlyArray<Status> = ["passing", "passing", "critical", "passing", "passing", "passing"]
      const { probe } = scripted((run) => script[run] ?? "passing")
      const { reports, sink } = recordingSink()
      const checker = yield* HealthCheck.run(probe, sink, { name: "pass-threshold", interval: 10, passThreshold: 3 })
      yield* settle
      for (let run = 1; run < 5; run++) yield* TestClock.adjust(10).pipe(Effect.zipRight(settle))
      expect(checker.unsafeStatus()).toBe("critical")
      expect(reports).toEqual(["critical"])
      yield* TestClock.adjust(10).pipe(Effect.zipRight(settle))
      expect(checker.unsafeStatus()).toBe("passing")
      expect(reports).toEqual(["critical", "passing"])
    }))

  it.scoped("moves between warning and critical at once, and counts warnings as failures", () =>
    Effect.gen(function*() {
      const script: ReadonlyArray<Status> = ["passing", "warning", "warning", "critical", "warning"]
      const { probe } = scripted((run) => script[run] ?? "warning")
      const { reports, sink } = recordingSink()
      yield* HealthCheck.run(probe, sink, { name: "warning", interval: 10, failThreshold: 2 })
      yield* settle
      for (let run = 1; run < 5; run++) yield* TestClock.adjust(10).pipe(Effect.zipRight(settle))
      expect(reports).toEqual(["critical", "passing", "warning", "critical", "warning"])
    }))

  it.scoped("a probe slower than the timeout counts as critical", () =>
    Effect.gen(function*() {
      const slow: HealthCheck.Probe = Effect.as(Effect.sleep("7 seconds"), { status: "passing", output: "slow" })
      const { outputs, reports, sink } = recordingSink()
      const checker = yield* HealthCheck.run(slow, sink, {
        name: "timeout",
        interval: "10 seconds",
        timeout: "5 seconds",
        initialStatus: "passing"
      })
      yield* settle
      yield* advance(4)
      expect(checker.unsafeStatus()).toBe("passing")
      yield* advance(1)
      expect(checker.unsafeStatus()).toBe("critical")
      expect(reports).toEqual(["passing", "critical"])
      expect(outputs[1]).toContain("timed out after 5s")
    }))

  it.scoped("counts probes by result and status changes in metrics", () =>
    Effect.gen(function*() {
      const { probe } = scripted((run) => (run % 3 === 2 ? "critical" : "passing"))
      const { sink } = recordingSink()
      yield* HealthCheck.run(probe, sink, { name: "metrics-hc", interval: 10 })
      yield* settle
      for (let run = 1; run < 6; run++) yield* TestClock.adjust(10).pipe(Effect.zipRight(settle))
      // Runs: P P C P P C: passing at 0, critical at 2, passing at 3, critical at 5.
      expect(yield* counterValue("rampart_health_checks_total", { name: "metrics-hc", result: "passing" })).toBe(4)
      expect(yield* counterValue("rampart_health_checks_total", { name: "metrics-hc", result: "critical" })).toBe(2)
      expect(yield* counterValue("rampart_health_status_changes_total", { name: "metrics-hc" })).toBe(4)
      expect(yield* counterValue("rampart_health_status", { name: "metrics-hc" })).toBe(2)
    }))

  it.scoped("retries a failed setStatus after the next probe", () =>
    Effect.gen(function*() {
      const { probe } = scripted(() => "passing")
      const told: Array<Status> = []
      let failures = 1
      const sink: HealthCheck.HealthSink<string> = {
        setStatus: (status) =>
          failures-- > 0 ? Effect.fail("registry unreachable") : Effect.sync(() => void told.push(status)),
        deregister: Effect.void
      }
      yield* HealthCheck.run(probe, sink, { name: "sink-retry", interval: 10 })
      yield* settle
      expect(told).toEqual(["passing"])
    }))

  it.scoped("stops probing when its scope closes", () =>
    Effect.gen(function*() {
      const { probe, state } = scripted(() => "passing")
      yield* Effect.scoped(HealthCheck.run(probe, recordingSink().sink, { name: "scope", interval: 10 }))
      yield* settle
      const runs = state.runs
      yield* TestClock.adjust(100).pipe(Effect.zipRight(settle))
      expect(state.runs).toBe(runs)
    }))
})

describe("HealthCheck flap damping", () => {
  it.scoped("suppresses a probe that flips every interval, then releases it once stable long enough", () =>
    Effect.gen(function*() {
      let flipping = true
      const { probe } = scripted((run) => (flipping && run % 2 === 1 ? "critical" : "passing"))
      const { reports, sink } = recordingSink()
      const checker = yield* HealthCheck.run(probe, sink, {
        name: "flapping",
        interval: "10 seconds",
        initialStatus: "passing",
        flapDamping: {}
      })
      const events = yield* collectEvents(checker)
      yield* advance(200) // 20 flips
      expect(reports.length - 1).toBeLessThan(20)
      expect(reports.length - 1).toBeLessThanOrEqual(3)
      expect(yield* checker.suppressed).toBe(true)
      expect(checker.unsafeStatus()).toBe("critical")
      expect(events.some((event) => event._tag === "Suppressed")).toBe(true)
      flipping = false
      yield* advance(120)
      // Still suppressed: the penalty has not decayed below 750 yet.
      expect(checker.unsafeStatus()).toBe("critical")
      expect(yield* checker.penalty).toBeGreaterThan(750)
      yield* advance(300)
      expect(yield* checker.suppressed).toBe(false)
      expect(checker.unsafeStatus()).toBe("passing")
      expect(yield* checker.penalty).toBeLessThan(750)
      expect(events.some((event) => event._tag === "Released")).toBe(true)
      expect(reports.at(-1)).toBe("passing")
    }))

  it.scoped("does not suppress a check that changes rarely", () =>
    Effect.gen(function*() {
      // One change every 10 minutes: the penalty has halved ten times before the next one.
      const { probe } = scripted((run) => (Math.floor(run / 60) % 2 === 0 ? "passing" : "critical"))
      const { reports, sink } = recordingSink()
      const checker = yield* HealthCheck.run(probe, sink, { name: "rare", interval: "10 seconds", flapDamping: {} })
      yield* settle
      for (let run = 1; run < 360; run++) yield* TestClock.adjust("10 seconds").pipe(Effect.zipRight(settle))
      expect(yield* checker.suppressed).toBe(false)
      expect(reports).toEqual(["critical", "passing", "critical", "passing", "critical", "passing", "critical"])
    }))

  /** The threshold filter, written out plainly: the status Consul would report with damping off. */
  const thresholdModel = (
    initial: Status,
    raw: ReadonlyArray<Status>,
    passThreshold: number,
    failThreshold: number
  ): Array<Status> => {
    const reported: Array<Status> = [initial]
    let current = initial
    let runOfPasses = 0
    let runOfFailures = 0
    for (const status of raw) {
      if (status === "passing") {
        runOfPasses++
        runOfFailures = 0
      } else {
        runOfFailures++
        runOfPasses = 0
      }
      const next = status === "passing"
        ? (runOfPasses >= passThreshold ? "passing" : current)
        : (current !== "passing" || runOfFailures >= failThreshold ? status : current)
      if (next !== current) reported.push(next)
      current = next
    }
    return reported
  }

  const rawChanges = (initial: Status, raw: ReadonlyArray<Status>) => {
    let changes = 0
    let previous = initial
    for (const status of raw) {
      if (status !== previous) changes++
      previous = status
    }
    return changes
  }

  const runSequence = (
    raw: ReadonlyArray<Status>,
    options: Omit<HealthCheck.HealthCheckOptionsInput, "name" | "interval">
  ) =>
    Effect.gen(function*() {
      const { probe } = scripted((run) => raw[run] ?? raw[raw.length - 1] ?? "passing")
      const { reports, sink } = recordingSink()
      yield* HealthCheck.run(probe, sink, { name: "property", interval: 10, ...options })
      yield* settle
      for (let run = 1; run < raw.length; run++) yield* TestClock.adjust(10).pipe(Effect.zipRight(settle))
      return reports
    }).pipe(Effect.scoped)

  const statusArb = FastCheck.constantFrom<Status>("passing", "critical")
  const sequenceArb = FastCheck.array(statusArb, { minLength: 1, maxLength: 40 })

  it.effect.prop(
    "with damping off, reports exactly the threshold-filtered changes",
    [sequenceArb, FastCheck.integer({ min: 1, max: 3 }), FastCheck.integer({ min: 1, max: 3 }), statusArb],
    ([raw, passThreshold, failThreshold, initialStatus]) =>
      Effect.gen(function*() {
        const reports = yield* runSequence(raw, { passThreshold, failThreshold, initialStatus })
        expect(reports).toEqual(thresholdModel(initialStatus, raw, passThreshold, failThreshold))
      }),
    { fastCheck: { numRuns: 100 } }
  )

  it.effect.prop(
    "with damping on, reports no more changes than the raw probe results make",
    [sequenceArb, FastCheck.integer({ min: 1, max: 3 }), FastCheck.integer({ min: 1, max: 3 }), statusArb],
    ([raw, passThreshold, failThreshold, initialStatus]) =>
      Effect.gen(function*() {
        const reports = yield* runSequence(raw, {
          passThreshold,
          failThreshold,
          initialStatus,
          flapDamping: { halfLife: 30 }
        })
        const filtered = thresholdModel(initialStatus, raw, passThreshold, failThreshold)
        expect(reports.length - 1).toBeLessThanOrEqual(rawChanges(initialStatus, raw))
        expect(reports.length).toBeLessThanOrEqual(filtered.length)
        for (let index = 1; index < reports.length; index++) expect(reports[index]).not.toBe(reports[index - 1])
      }),
    { fastCheck: { numRuns: 100 } }
  )
})

describe("HealthCheck deregisterCriticalAfter", () => {
  it.scoped("deregisters exactly once after critical for longer than the limit, then stops probing", () =>
    Effect.gen(function*() {
      const { probe, state: probes } = scripted(() => "critical")
      const { sink, state } = recordingSink()
      const checker = yield* HealthCheck.run(probe, sink, {
        name: "dereg",
        interval: "10 seconds",
        deregisterCriticalAfter: "30 seconds"
      })
      const events = yield* collectEvents(checker)
      yield* advance(29)
      expect(state.deregistrations).toBe(0)
      yield* advance(1)
      expect(state.deregistrations).toBe(1)
      expect(yield* checker.deregistered).toBe(true)
      const runs = probes.runs
      yield* advance(100)
      expect(state.deregistrations).toBe(1)
      expect(probes.runs).toBe(runs)
      expect(events.filter((event) => event._tag === "Deregistered")).toMatchObject([{ criticalForMillis: 30_000 }])
      expect(yield* counterValue("rampart_health_deregistrations_total", { name: "dereg" })).toBe(1)
    }))

  it.scoped("a recovery before the limit restarts the timer", () =>
    Effect.gen(function*() {
      const script: ReadonlyArray<Status> = ["critical", "critical", "passing"]
      const { probe } = scripted((run) => script[run] ?? "critical")
      const { sink, state } = recordingSink()
      yield* HealthCheck.run(probe, sink, {
        name: "dereg-reset",
        interval: "10 seconds",
        initialStatus: "passing",
        deregisterCriticalAfter: "30 seconds"
      })
      yield* settle
      // critical at 0 and 10, passing at 20, critical again from 30: 30 seconds later is 60.
      yield* advance(59)
      expect(state.deregistrations).toBe(0)
      yield* advance(1)
      expect(state.deregistrations).toBe(1)
    }))

  it.scoped("retries a failed deregistration after the next probe", () =>
    Effect.gen(function*() {
      const { probe } = scripted(() => "critical")
      let attempts = 0
      const sink: HealthCheck.HealthSink<string> = {
        setStatus: () => Effect.void,
        deregister: Effect.suspend(() => ++attempts === 1 ? Effect.fail("registry unreachable") : Effect.void)
      }
      const checker = yield* HealthCheck.run(probe, sink, { name: "dereg-retry", interval: 10, deregisterCriticalAfter: 10 })
      yield* settle
      yield* TestClock.adjust(10).pipe(Effect.zipRight(settle))
      expect(attempts).toBe(1)
      expect(yield* checker.deregistered).toBe(false)
      yield* TestClock.adjust(10).pipe(Effect.zipRight(settle))
      expect(attempts).toBe(2)
      expect(yield* checker.deregistered).toBe(true)
    }))
})

describe("HealthCheck.effect", () => {
  it.effect("success is passing, a returned status is the verdict, failures and defects are critical", () =>
    Effect.gen(function*() {
      expect(yield* HealthCheck.effect(Effect.succeed(42))).toEqual({ status: "passing", output: "ok" })
      expect((yield* HealthCheck.effect(Effect.succeed("warning"))).status).toBe("warning")
      expect(yield* HealthCheck.effect(Effect.succeed({ status: "critical", output: "disk full" }))).toEqual({
        status: "critical",
        output: "disk full"
      })
      expect(yield* HealthCheck.effect(Effect.fail(new Error("connection refused")))).toEqual({
        status: "critical",
        output: "connection refused"
      })
      expect((yield* HealthCheck.effect(Effect.die("kaput"))).status).toBe("critical")
    }))
})

describe("HealthCheck.update", () => {
  it.scoped("applies new thresholds and interval from the next probe, keeping the counts", () =>
    Effect.gen(function*() {
      const { probe, state } = scripted((run) => (run === 0 ? "passing" : "critical"))
      const { reports, sink } = recordingSink()
      const checker = yield* HealthCheck.run(probe, sink, {
        name: "update",
        interval: "10 seconds",
        failThreshold: 5,
        initialStatus: "passing"
      })
      yield* settle
      yield* advance(20) // two failures
      expect(reports).toEqual(["passing"])
      yield* HealthCheck.update(checker, { failThreshold: 3, interval: "5 seconds" })
      yield* advance(10) // third failure, then the 5-second interval applies
      expect(reports).toEqual(["passing", "critical"])
      expect(state.runs).toBe(4)
      yield* advance(5)
      expect(state.runs).toBe(5)
    }))

  it.scoped("a bad update fails with InvalidOptions naming the field and changes nothing", () =>
    Effect.gen(function*() {
      const { probe } = scripted(() => "passing")
      const { reports, sink } = recordingSink()
      const checker = yield* HealthCheck.run(probe, sink, { name: "bad-update", interval: 10, passThreshold: 2 })
      const error = yield* Effect.flip(HealthCheck.update(checker, { passThreshold: 0 }))
      expect(error.message).toContain("passThreshold")
      const again = yield* Effect.flip(HealthCheck.update({ passThreshold: 1, interval: "never" })(checker))
      expect(again.message).toContain("interval")
      expect(again.message).not.toContain("passThreshold")
      // passThreshold is still 2: one pass is not enough.
      yield* settle
      expect(reports).toEqual(["critical"])
      yield* TestClock.adjust(10).pipe(Effect.zipRight(settle))
      expect(reports).toEqual(["critical", "passing"])
    }))

  it.scoped("switching flap damping off releases a suppressed status at the next probe", () =>
    Effect.gen(function*() {
      let flipping = true
      const { probe } = scripted((run) => (flipping && run % 2 === 1 ? "critical" : "passing"))
      const { reports, sink } = recordingSink()
      const checker = yield* HealthCheck.run(probe, sink, {
        name: "damping-off",
        interval: "10 seconds",
        initialStatus: "passing",
        flapDamping: {}
      })
      yield* settle
      yield* advance(60)
      expect(yield* checker.suppressed).toBe(true)
      flipping = false
      yield* HealthCheck.update(checker, { flapDamping: undefined })
      yield* advance(10)
      expect(yield* checker.suppressed).toBe(false)
      expect(yield* checker.penalty).toBe(0)
      expect(reports.at(-1)).toBe("passing")
    }))
})

describe("HealthCheck options", () => {
  it.effect("bad options fail with InvalidOptions naming the field", () =>
    Effect.gen(function*() {
      expect(yield* invalid({ name: "" })).toContain("name")
      expect(yield* invalid({ name: "x", interval: -1 })).toContain("interval")
      expect(yield* invalid({ name: "x", timeout: "soon" })).toContain("timeout")
      expect(yield* invalid({ name: "x", failThreshold: 0 })).toContain("failThreshold")
      expect(yield* invalid({ name: "x", passThreshold: 1.5 })).toContain("passThreshold")
      expect(yield* invalid({ name: "x", initialStatus: "unknown" as Status })).toContain("initialStatus")
      expect(yield* invalid({ name: "x", flapDamping: { reuseBelow: 3000 } })).toContain("flapDamping.reuseBelow")
      expect(yield* invalid({ name: "x", flapDamping: { halfLife: 0 } })).toContain("flapDamping.halfLife")
      expect(yield* invalid({ name: "x", deregisterCriticalAfter: 0 })).toContain("deregisterCriticalAfter")
    }))

  it.scoped("isHealthChecker recognises a checker", () =>
    Effect.gen(function*() {
      const checker = yield* HealthCheck.run(Effect.succeed({ status: "passing", output: "" }), recordingSink().sink, {
        name: "guard"
      })
      expect(HealthCheck.isHealthChecker(checker)).toBe(true)
      expect(HealthCheck.isHealthChecker({})).toBe(false)
    }))
})
