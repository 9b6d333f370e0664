import { SqlClient } from "@effect/sql"
import { describe, expect, it, layer } from "@effect/vitest"
import * as PostgresServer from "@rampart/testing/PostgresServer"
import * as Services from "@rampart/testing/Services"
import { Deferred, Effect, Either, Exit, Fiber, Option, Ref } from "effect"
import * as Faults from "../src/Faults.js"
import * as Gid from "../src/Gid.js"
import * as Participant from "../src/Participant.js"
import * as PgParticipant from "../src/PgParticipant.js"
import * as TransactionLog from "../src/TransactionLog.js"
import * as TwoPhaseCommit from "../src/TwoPhaseCommit.js"
import * as Bank from "./support/pgBank.js"

const postgres = Services.check("postgres")

const gid = (s: string): Gid.Gid => Effect.runSync(Gid.validate(s))

// For tests that hand a participant a malformed gid on purpose (the Participant type asks for a Gid).
const unchecked = (s: string): Gid.Gid => s as Gid.Gid

describe("PgParticipant options and gids", () => {
  it.effect("rejects bad options with InvalidOptions naming each field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        PgParticipant.make({ id: "bank'; DROP TABLE x", gidPrefix: "", lockTimeout: -1 }).pipe(
          Effect.provideService(SqlClient.SqlClient, {} as SqlClient.SqlClient)
        )
      )
      expect(error._tag).toBe("InvalidOptions")
      expect(error.message).toContain("id")
      expect(error.message).toContain("gidPrefix")
      expect(error.message).toContain("lockTimeout")
    }))

  it.effect("accepts only gid characters, 1 to 128 of them, within PostgreSQL's 199 bytes", () =>
    Effect.gen(function*() {
      for (const bad of ["", "a'b", "rampart-x'; DROP TABLE accounts; --", "é", "a".repeat(129), "a".repeat(200)]) {
        const result = PgParticipant.checkGid(bad)
        expect(Either.isLeft(result)).toBe(true)
        const error = yield* Effect.flip(PgParticipant.validateGid(bad))
        expect(error._tag).toBe("InvalidGid")
      }
      expect(yield* PgParticipant.validateGid("rampart-abc_1.2:3-4")).toBe("rampart-abc_1.2:3-4")
    }))
})

describe.skipIf(!postgres.available)("PgParticipant against a real PostgreSQL", () => {
  layer(PostgresServer.layer(), { timeout: 60_000, excludeTestServices: true })((it) => {
    const setup = (accounts: Record<string, number>, options: Partial<PgParticipant.PgParticipantOptionsInput> = {}) =>
      Effect.gen(function*() {
        const pg = yield* PostgresServer.Tag
        const { database, sql } = yield* Bank.bankDatabase(pg, "pgp", accounts)
        const participant = yield* PgParticipant.make({ id: "bank-a", lockTimeout: "300 millis", ...options }).pipe(
          Effect.provideService(SqlClient.SqlClient, sql)
        )
        const prepared = Effect.map(
          pg.psql(`SELECT gid FROM pg_prepared_xacts WHERE database = '${database}' ORDER BY gid`),
          (out) => (out === "" ? [] : out.split("\n"))
        )
        return { pg, database, sql, participant, prepared }
      })

    it.scoped("votes No on a malformed gid without running the work or sending anything", () =>
      Effect.gen(function*() {
        const { participant, prepared, sql } = yield* setup({ alice: 100 })
        const ran = yield* Ref.make(0)
        const branch = participant.branch(Effect.zipRight(Ref.update(ran, (n) => n + 1), Bank.debit("alice", 10)))
        for (const bad of ["a'b", "x'; COMMIT; DROP TABLE accounts; --", "", "a".repeat(200)]) {
          const vote = yield* branch.prepare(unchecked(bad))
          expect(vote._tag).toBe("No")
          const error = yield* Effect.flip(participant.commit(unchecked(bad)))
          expect(error.reason).toContain("invalid transaction id")
          expect((yield* participant.prepare(unchecked(bad)))._tag).toBe("No")
        }
        expect(yield* Ref.get(ran)).toBe(0)
        expect(yield* Bank.balances(sql)).toEqual({ alice: 100 })
        expect(yield* prepared).toEqual([])
      }), 30_000)

    it.scoped("prepares into pg_prepared_xacts, then commits; commit is idempotent", () =>
      Effect.gen(function*() {
        const { participant, prepared, sql } = yield* setup({ alice: 100 })
        const g = gid("rampart-commit-1")
        const branch = participant.branch(Bank.debit("alice", 30))
        expect(yield* branch.prepare(g)).toEqual(Participant.yes)
        expect(yield* prepared).toEqual(["rampart-commit-1@bank-a"])
        expect(participant.transactionId(g)).toBe("rampart-commit-1@bank-a")
        // Not visible before the commit; the resource view says it is prepared.
        expect(yield* Bank.balances(sql)).toEqual({ alice: 100 })
        expect(yield* participant.prepare(g)).toEqual(Participant.yes)
        expect((yield* participant.prepared).map((p) => p.gid)).toEqual(["rampart-commit-1"])
        yield* participant.commit(g)
        expect(yield* Bank.balances(sql)).toEqual({ alice: 70 })
        // A second COMMIT PREPARED finds nothing (42704): success, nothing changes.
        yield* participant.commit(g)
        expect(yield* Bank.balances(sql)).toEqual({ alice: 70 })
        expect((yield* participant.prepare(g))._tag).toBe("No")
        expect(yield* prepared).toEqual([])
      }), 30_000)

    it.scoped("aborts a prepared branch; abort is idempotent; unknown gids succeed", () =>
      Effect.gen(function*() {
        const { participant, prepared, sql } = yield* setup({ alice: 100 })
        const g = gid("rampart-abort-1")
        expect(yield* participant.branch(Bank.debit("alice", 30)).prepare(g)).toEqual(Participant.yes)
        yield* participant.abort(g)
        yield* participant.abort(g)
        yield* participant.commit(gid("rampart-never-prepared"))
        yield* participant.abort(gid("rampart-never-prepared-2"))
        expect(yield* Bank.balances(sql)).toEqual({ alice: 100 })
        expect(yield* prepared).toEqual([])
      }), 30_000)

    it.scoped("a second prepare of a prepared gid is Yes without running the work again", () =>
      Effect.gen(function*() {
        const { participant, prepared, sql } = yield* setup({ alice: 100 })
        const ran = yield* Ref.make(0)
        const g = gid("rampart-twice")
        const branch = participant.branch(Effect.zipRight(Ref.update(ran, (n) => n + 1), Bank.debit("alice", 10)))
        expect(yield* branch.prepare(g)).toEqual(Participant.yes)
        expect(yield* branch.prepare(g)).toEqual(Participant.yes)
        expect(yield* Ref.get(ran)).toBe(1)
        yield* participant.commit(g)
        expect(yield* Bank.balances(sql)).toEqual({ alice: 90 })
        // After the commit this process answers Yes from memory and does not redo the work.
        expect(yield* branch.prepare(g)).toEqual(Participant.yes)
        expect(yield* Ref.get(ran)).toBe(1)
        expect(yield* prepared).toEqual([])
      }), 30_000)

    it.scoped("two concurrent prepares of one gid prepare it once and both vote Yes", () =>
      Effect.gen(function*() {
        const { participant, prepared, sql } = yield* setup({ alice: 100 })
        const g = gid("rampart-concurrent")
        const branch = participant.branch(Bank.debit("alice", 10))
        const votes = yield* Effect.all([branch.prepare(g), branch.prepare(g)], { concurrency: 2 })
        expect(votes).toEqual([Participant.yes, Participant.yes])
        expect(yield* prepared).toEqual(["rampart-concurrent@bank-a"])
        yield* participant.commit(g)
        expect(yield* Bank.balances(sql)).toEqual({ alice: 90 })
        expect(yield* prepared).toEqual([])
      }), 30_000)

    it.scoped("work that fails at SQL level votes No and prepares nothing", () =>
      Effect.gen(function*() {
        const { participant, prepared, sql } = yield* setup({ alice: 100 })
        // Uncaught: the check constraint (balance >= 0) fails the UPDATE.
        const overdraw = Effect.flatMap(
          SqlClient.SqlClient,
          (client) => client`UPDATE accounts SET balance = balance - 1000 WHERE id = 'alice'`
        )
        const vote1 = yield* participant.branch(overdraw).prepare(gid("rampart-sql-1"))
        expect(vote1._tag).toBe("No")
        // Caught by the work itself: the transaction is failed, PostgreSQL answers PREPARE with ROLLBACK.
        const swallowed = Effect.flatMap(SqlClient.SqlClient, (client) =>
          Effect.zipRight(
            client`UPDATE accounts SET balance = balance - 5 WHERE id = 'alice'`,
            Effect.ignore(client`SELECT 1 / 0`)
          ))
        const vote2 = yield* participant.branch(swallowed).prepare(gid("rampart-sql-2"))
        expect(vote2._tag).toBe("No")
        expect(vote2._tag === "No" ? vote2.reason : "").toContain("rolled it back")
        expect(yield* Bank.balances(sql)).toEqual({ alice: 100 })
        expect(yield* prepared).toEqual([])
      }), 30_000)

    it.scoped("a business failure votes No with the reason and returns the connection clean", () =>
      Effect.gen(function*() {
        const pg = yield* PostgresServer.Tag
        const { database } = yield* Bank.bankDatabase(pg, "pgp", { alice: 5 })
        // One connection in the pool: a leaked or dirty connection would hang or break the next call.
        const sql = yield* Bank.connect(pg, database, 1)
        const participant = yield* PgParticipant.make({ id: "bank-a" }).pipe(
          Effect.provideService(SqlClient.SqlClient, sql)
        )
        for (let i = 0; i < 4; i++) {
          const vote = yield* participant.branch(Bank.debit("alice", 10)).prepare(gid(`rampart-poor-${i}`))
          expect(vote).toEqual(Participant.no("insufficient funds on alice: 5 < 10"))
        }
        const states = yield* sql<{ readonly n: string }>`SELECT count(*) AS n FROM pg_stat_activity
          WHERE datname = current_database() AND state LIKE 'idle in transaction%'`
        expect(Number(states[0]?.n)).toBe(0)
        expect(yield* Bank.balances(sql)).toEqual({ alice: 5 })
        expect(yield* Bank.preparedGids(pg)).toEqual([])
      }), 30_000)

    it.scoped("interrupting a prepare mid-work rolls back and releases the connection", () =>
      Effect.gen(function*() {
        const pg = yield* PostgresServer.Tag
        const { database } = yield* Bank.bankDatabase(pg, "pgp", { alice: 100 })
        // Two connections: @effect/sql-pg cancels an interrupted query with pg_cancel_backend on
        // another pooled connection (with one, the cancel waits 5 s for a free connection).
        const sql = yield* Bank.connect(pg, database, 2)
        const participant = yield* PgParticipant.make({ id: "bank-a" }).pipe(
          Effect.provideService(SqlClient.SqlClient, sql)
        )
        const slow = Effect.zipRight(
          Bank.debit("alice", 10),
          Effect.flatMap(SqlClient.SqlClient, (client) => client`SELECT pg_sleep(30)`)
        )
        const stuck = Effect.zipRight(Bank.debit("alice", 20), Effect.never)
        for (const [i, work] of [slow, stuck].entries()) {
          const fiber = yield* Effect.fork(participant.branch(work).prepare(gid(`rampart-interrupted-${i}`)))
          yield* Effect.sleep("300 millis")
          yield* Fiber.interrupt(fiber)
        }
        // The pooled connections are usable and none is left inside a transaction; nothing was prepared.
        const states = yield* sql<{ readonly n: string }>`SELECT count(*) AS n FROM pg_stat_activity
          WHERE datname = current_database() AND state LIKE 'idle in transaction%'`
        expect(Number(states[0]?.n)).toBe(0)
        expect(yield* Bank.balances(sql)).toEqual({ alice: 100 })
        expect(yield* participant.branch(Bank.debit("alice", 1)).prepare(gid("rampart-after"))).toEqual(Participant.yes)
        yield* participant.abort(gid("rampart-after"))
        expect(yield* Bank.preparedGids(pg)).toEqual([])
      }), 30_000)

    it.scoped("a prepare blocked by a prepared transaction's locks fails after lock_timeout", () =>
      Effect.gen(function*() {
        const { participant, prepared, sql } = yield* setup({ alice: 100 })
        const first = gid("rampart-lock-1")
        expect(yield* participant.branch(Bank.debit("alice", 10)).prepare(first)).toEqual(Participant.yes)
        const vote = yield* participant.branch(Bank.debit("alice", 10)).prepare(gid("rampart-lock-2"))
        expect(vote._tag).toBe("No")
        expect(vote._tag === "No" ? vote.reason : "").toContain("lock timeout")
        expect(yield* prepared).toEqual(["rampart-lock-1@bank-a"])
        yield* participant.abort(first)
        expect(yield* Bank.balances(sql)).toEqual({ alice: 100 })
        expect(yield* prepared).toEqual([])
      }), 30_000)

    it.scoped("a prepare arriving after the abort of its gid votes No and leaves nothing prepared", () =>
      Effect.gen(function*() {
        const { participant, prepared, sql } = yield* setup({ alice: 100 })
        const g = gid("rampart-late")
        yield* participant.abort(g)
        expect((yield* participant.branch(Bank.debit("alice", 10)).prepare(g))._tag).toBe("No")
        expect(yield* Bank.balances(sql)).toEqual({ alice: 100 })
        expect(yield* prepared).toEqual([])
      }), 30_000)

    it.scoped("an abort that overtakes a prepare still running its work makes that prepare vote No", () =>
      Effect.gen(function*() {
        const { participant, prepared, sql } = yield* setup({ alice: 100 })
        const g = gid("rampart-overtaken")
        const workStarted = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const work = Bank.debit("alice", 10).pipe(
          Effect.zipRight(Deferred.succeed(workStarted, undefined)),
          Effect.zipRight(Deferred.await(release))
        )
        const fiber = yield* Effect.fork(participant.branch(work).prepare(g))
        yield* Deferred.await(workStarted)
        // The coordinator gave up on this vote and aborts: nothing is prepared yet (42704: success).
        yield* participant.abort(g)
        yield* Deferred.succeed(release, undefined)
        const vote = yield* Fiber.join(fiber)
        expect(vote._tag).toBe("No")
        expect(yield* Bank.balances(sql)).toEqual({ alice: 100 })
        expect(yield* prepared).toEqual([])
      }), 30_000)

    it.scoped("the sweep rolls back orphans the log does not need, commits logged commits, spares others", () =>
      Effect.gen(function*() {
        const { database, participant, pg, prepared, sql } = yield* setup({ alice: 100, bob: 100, carol: 100 })
        const log = yield* TransactionLog.makeMemory
        const debit = (who: string) => `UPDATE accounts SET balance = balance - 1 WHERE id = '${who}'`
        // Not in the log at all.
        yield* Bank.prepareByHand(pg, database, "rampart-orphan@bank-a", debit("alice"))
        // Logged commit: the coordinator crashed before phase 2.
        yield* log.begin({ gid: "rampart-logged", protocol: "2pc", coordinator: "c", participants: ["bank-a"] })
        yield* log.decide("rampart-logged", "commit")
        yield* Bank.prepareByHand(pg, database, "rampart-logged@bank-a", debit("bob"))
        // Logged but undecided: presumed abort, fenced in the log.
        yield* log.begin({ gid: "rampart-undecided", protocol: "2pc", coordinator: "c", participants: ["bank-a"] })
        yield* Bank.prepareByHand(pg, database, "rampart-undecided@bank-a", debit("carol"))
        // Not ours: another prefix, another participant id.
        yield* Bank.prepareByHand(pg, database, "other-x@bank-a", "SELECT 1")
        yield* Bank.prepareByHand(pg, database, "rampart-x@bank-b", "SELECT 1")

        // Too young for an olderThan of an hour: untouched.
        expect(yield* participant.sweep(log, { olderThan: "1 hour" })).toEqual({ committed: [], rolledBack: [] })
        const report = yield* participant.sweep(log)
        expect(report.committed).toEqual(["rampart-logged"])
        expect([...report.rolledBack].sort()).toEqual(["rampart-orphan", "rampart-undecided"])
        const undecided = yield* log.get("rampart-undecided")
        expect(Option.map(undecided, (r) => r.decision)).toEqual(Option.some("abort"))
        expect(yield* Bank.balances(sql)).toEqual({ alice: 100, bob: 99, carol: 100 })
        expect(yield* prepared).toEqual(["other-x@bank-a", "rampart-x@bank-b"])
        // Not ours to resolve; clean up for the next test.
        yield* pg.psql("ROLLBACK PREPARED 'other-x@bank-a'; ROLLBACK PREPARED 'rampart-x@bank-b'", { database })
        expect(yield* prepared).toEqual([])
      }), 30_000)

    describe("driven by TwoPhaseCommit", () => {
      const coordinated = (faults: Faults.Service) =>
        Effect.gen(function*() {
          const pg = yield* PostgresServer.Tag
          const a = yield* Bank.bankDatabase(pg, "pga", { alice: 100 })
          const b = yield* Bank.bankDatabase(pg, "pgb", { bob: 100 })
          const bankA = yield* PgParticipant.make({ id: "bank-a", lockTimeout: "300 millis" }).pipe(
            Effect.provideService(SqlClient.SqlClient, a.sql)
          )
          const bankB = yield* PgParticipant.make({ id: "bank-b", lockTimeout: "300 millis" }).pipe(
            Effect.provideService(SqlClient.SqlClient, b.sql)
          )
          const log = yield* TransactionLog.makeMemory
          const coordinator = (prepareTimeout = "2 seconds") =>
            TwoPhaseCommit.make({ name: "transfers", prepareTimeout, phaseTwoTimeout: "1 second" }).pipe(
              Effect.provideService(TransactionLog.TransactionLog, log),
              Effect.provideService(Faults.Faults, faults)
            )
          const resources = new Map<string, Participant.Participant>([["bank-a", bankA], ["bank-b", bankB]])
          const prepared = Effect.map(
            pg.psql(
              `SELECT gid FROM pg_prepared_xacts WHERE database IN ('${a.database}', '${b.database}') ORDER BY gid`
            ),
            (out) => (out === "" ? [] : out.split("\n"))
          )
          return { pg, a, b, bankA, bankB, log, coordinator, resources, prepared }
        })

      it.scoped("scenario 2: a No vote or a failed prepare aborts everywhere, nothing stays prepared", () =>
        Effect.gen(function*() {
          const faults = yield* Faults.make
          const { a, b, bankA, bankB, coordinator, log, prepared } = yield* coordinated(faults)
          const twoPc = yield* coordinator()
          // No: bob cannot pay.
          const refused = yield* Effect.flip(
            TwoPhaseCommit.run(twoPc, [bankA.branch(Bank.credit("alice", 500)), bankB.branch(Bank.debit("bob", 500))])
          )
          expect(refused._tag).toBe("TransactionAborted")
          // Failed prepare: PostgreSQL cannot PREPARE a transaction that used a temporary table.
          const temporary = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TEMP TABLE scratch (x int)`)
          const failed = yield* Effect.flip(
            TwoPhaseCommit.run(twoPc, [bankA.branch(Bank.debit("alice", 10)), bankB.branch(temporary)])
          )
          expect(failed._tag).toBe("TransactionAborted")
          if (failed._tag === "TransactionAborted") {
            expect(failed.votes.find((v) => v.participant === "bank-b")?.vote).toBe("failed")
            const record = yield* log.get(failed.gid)
            expect(Option.map(record, (r) => r.decision)).toEqual(Option.some("abort"))
          }
          expect(yield* log.active()).toEqual([])
          expect(yield* Bank.balances(a.sql)).toEqual({ alice: 100 })
          expect(yield* Bank.balances(b.sql)).toEqual({ bob: 100 })
          expect(yield* prepared).toEqual([])
        }), 30_000)

      it.scoped("scenario 5: a crash midway through phase 2 is finished by recovery; 42704 counts as done", () =>
        Effect.gen(function*() {
          const faults = yield* Faults.make
          const { a, b, bankA, bankB, coordinator, log, prepared, resources } = yield* coordinated(faults)
          yield* faults.arm("2pc.phaseTwo.afterFirstAck")
          // bank-b commits, but its first reply is lost: its acknowledgement is not logged before the crash.
          yield* faults.setNetwork((m, n) =>
            m.to === "bank-b" && m.operation === "commit" && n === 1 ? "dropReply" : "deliver"
          )
          const exit = yield* Effect.exit(
            TwoPhaseCommit.run(yield* coordinator(), [
              bankA.branch(Bank.debit("alice", 30)),
              bankB.branch(Bank.credit("bob", 30))
            ])
          )
          expect(Exit.isFailure(exit) && Faults.isCrash(exit.cause)).toBe(true)
          yield* faults.setNetwork(Faults.deliverAll)
          // Both branches are committed in PostgreSQL; the log still holds the unfinished commit.
          expect(yield* prepared).toEqual([])
          const [record] = yield* log.active()
          expect(record?.decision).toBe("commit")
          // Recovery resends commit to both: the acknowledged one answers 42704, which is success.
          yield* TwoPhaseCommit.recover(yield* coordinator(), (id) => resources.get(id))
          // And once more, idempotently, straight at the participants.
          yield* bankA.commit(gid(record?.gid ?? ""))
          yield* bankB.commit(gid(record?.gid ?? ""))
          expect(yield* log.active()).toEqual([])
          expect(yield* Bank.balances(a.sql)).toEqual({ alice: 70 })
          expect(yield* Bank.balances(b.sql)).toEqual({ bob: 130 })
          expect(yield* prepared).toEqual([])
        }), 30_000)

      it.scoped("scenario 7: a lost reply to PREPARE aborts; a late prepare in another process is swept", () =>
        Effect.gen(function*() {
          const faults = yield* Faults.make
          const { a, b, bankA, bankB, coordinator, log, pg, prepared } = yield* coordinated(faults)
          yield* faults.setNetwork((m) => (m.to === "bank-b" && m.operation === "prepare" ? "dropReply" : "deliver"))
          const work = bankB.branch(Bank.credit("bob", 30))
          const error = yield* Effect.flip(
            TwoPhaseCommit.run(yield* coordinator("500 millis"), [bankA.branch(Bank.debit("alice", 30)), work])
          )
          expect(error._tag).toBe("TransactionAborted")
          if (error._tag !== "TransactionAborted") return
          expect(error.votes.find((v) => v.participant === "bank-b")?.vote).toBe("timeout")
          // bank-b did prepare (only the reply was lost); the abort rolled it back.
          expect(yield* prepared).toEqual([])
          // The same gid's prepare arriving late in this process: No, nothing prepared.
          expect((yield* work.prepare(gid(error.gid)))._tag).toBe("No")
          expect(yield* prepared).toEqual([])
          // ... and in another process, which never saw the abort: it prepares, and the sweep rolls it back.
          const otherProcess = yield* PgParticipant.make({ id: "bank-b" }).pipe(
            Effect.provideService(SqlClient.SqlClient, b.sql)
          )
          expect(yield* otherProcess.branch(Bank.credit("bob", 30)).prepare(gid(error.gid))).toEqual(Participant.yes)
          expect(yield* prepared).toEqual([`${error.gid}@bank-b`])
          expect(yield* otherProcess.sweep(log)).toEqual({ committed: [], rolledBack: [error.gid] })
          expect(yield* Bank.balances(a.sql)).toEqual({ alice: 100 })
          expect(yield* Bank.balances(b.sql)).toEqual({ bob: 100 })
          expect(yield* prepared).toEqual([])
          expect(yield* Bank.preparedGids(pg)).toEqual([])
        }), 30_000)

      it.scoped("scenario 6: prepared branches survive a PostgreSQL crash with their locks until recovery commits", () =>
        Effect.gen(function*() {
          const faults = yield* Faults.make
          const { a, b, coordinator, log, pg, prepared, bankA, bankB } = yield* coordinated(faults)
          yield* faults.arm("2pc.afterDecision")
          const exit = yield* Effect.exit(
            TwoPhaseCommit.run(yield* coordinator(), [
              bankA.branch(Bank.debit("alice", 40)),
              bankB.branch(Bank.credit("bob", 40))
            ])
          )
          expect(Exit.isFailure(exit) && Faults.isCrash(exit.cause)).toBe(true)
          const [record] = yield* log.active()
          expect(record?.decision).toBe("commit")
          const gidOf = record?.gid ?? ""
          expect(yield* prepared).toEqual([`${gidOf}@bank-a`, `${gidOf}@bank-b`])

          yield* pg.kill
          yield* pg.restart
          // Still prepared after crash recovery, still holding alice's row lock.
          expect(yield* prepared).toEqual([`${gidOf}@bank-a`, `${gidOf}@bank-b`])
          const blocked = yield* Effect.flip(
            pg.psql("SET lock_timeout = '200ms'; UPDATE accounts SET balance = 0 WHERE id = 'alice';", {
              database: a.database
            })
          )
          expect(blocked.stderr).toContain("lock timeout")

          // Fresh connections (the old pools died with the server) and fresh participants, as after a restart.
          const sqlA = yield* Bank.connect(pg, a.database)
          const sqlB = yield* Bank.connect(pg, b.database)
          const freshA = yield* PgParticipant.make({ id: "bank-a" }).pipe(Effect.provideService(SqlClient.SqlClient, sqlA))
          const freshB = yield* PgParticipant.make({ id: "bank-b" }).pipe(Effect.provideService(SqlClient.SqlClient, sqlB))
          const resources = new Map<string, Participant.Participant>([["bank-a", freshA], ["bank-b", freshB]])
          const report = yield* TwoPhaseCommit.recover(yield* coordinator(), (id) => resources.get(id))
          expect(report.committed).toEqual([gidOf])
          expect(yield* freshA.sweep(log)).toEqual({ committed: [], rolledBack: [] })
          expect(yield* Bank.balances(sqlA)).toEqual({ alice: 60 })
          expect(yield* Bank.balances(sqlB)).toEqual({ bob: 140 })
          expect(yield* log.active()).toEqual([])
          expect(yield* prepared).toEqual([])
        }), 60_000)
    })
  })
})
