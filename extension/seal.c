/*-------------------------------------------------------------------------
 *
 * seal.c
 *	  The audit ledger's blocks: seal(), verify_ledger(), and the guard
 *	  that keeps blocks and entries append-only.
 *
 * A block seals every application (its hash) and event (its chained hash)
 * not yet in a block.  Entries are leaves in order: applications by id,
 * then events by id; leaf = SHA-256(0x00 || field(kind) || field(row_id)
 * || field(hash)) in ledger.c's field encoding, and the Merkle root is
 * RFC 9162's MTH (0x01 || left || right, split at the largest power of two
 * below n).  The block's hash is SHA-256 of field("miaopi.block.v1"),
 * field(id), field(sealed_at), field(entries), field(root),
 * field(prev_hash): every block vouches for all before it.
 *
 * Finding what is new without rereading everything.  ledger_mark keeps per
 * kind sealed_through: every row with an id up to it is sealed (or was
 * never committed).  A row with a smaller id than another may commit
 * later, so the mark cannot simply follow the largest id sealed.  Instead
 * a seal reads the id sequence's last value (candidate), then the
 * transactions holding a lock on the table (pending: any transaction that
 * took an id at or below candidate took that lock first and holds it to
 * its end).  Once all of pending have ended, everything up to candidate
 * has committed or never will, and a later seal (whose scan starts from
 * the old mark, so it sees those late commits) moves sealed_through to
 * candidate.  When nothing is pending the seal moves it at once.
 * Vacuums hold such a lock too but never insert: they are left out.  The scan
 * reads ids above sealed_through not already in ledger_entry, whose
 * primary key (kind, row_id) keeps a row from two blocks.
 *
 * Concurrent seals: the second waits on a transaction-level advisory lock
 * and, at READ COMMITTED, then sees the first one's block.
 *
 * IDENTIFICATION
 *	  extension/seal.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/sinvaladt.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/rel.h"

#include "ledger.h"
#include "miaopi.h"
#include "workflow.h"

/* What a block seals, in leaf order */
typedef struct SealKind
{
	const char *kind;
	const char *table;
	const char *sequence;
} SealKind;

static const SealKind seal_kinds[] = {
	{"application", "application", "application_id_seq"},
	{"event", "event", "event_id_seq"},
};

#define NKINDS lengthof(seal_kinds)

/*
 * miaopi_merkle_leaf hashes one entry as an RFC 9162 leaf.
 */
void
miaopi_merkle_leaf(const char *kind, int64 row_id, const uint8 *hash, uint8 *out)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '\0');
	miaopi_canon_cstring(&buf, kind);
	miaopi_canon_int(&buf, row_id);
	if (hash)
		miaopi_canon_bytes(&buf, hash, MIAOPI_HASH_LEN);
	else
		miaopi_canon_null(&buf);
	miaopi_sha256(buf.data, buf.len, out);
	pfree(buf.data);
}

/* MTH over leaves[0..n), n >= 1 */
static void
merkle(uint8 (*leaves)[MIAOPI_HASH_LEN], int64 n, uint8 *out)
{
	int64		k = 1;
	uint8		node[1 + 2 * MIAOPI_HASH_LEN];

	if (n == 1)
	{
		memcpy(out, leaves[0], MIAOPI_HASH_LEN);
		return;
	}
	check_stack_depth();
	while (k * 2 < n)
		k *= 2;
	node[0] = 0x01;
	merkle(leaves, k, node + 1);
	merkle(leaves + k, n - k, node + 1 + MIAOPI_HASH_LEN);
	miaopi_sha256(node, sizeof(node), out);
}

/*
 * miaopi_merkle_root computes RFC 9162's Merkle tree hash of n >= 1 leaf
 * hashes.
 */
void
miaopi_merkle_root(uint8 (*leaves)[MIAOPI_HASH_LEN], int64 n, uint8 *out)
{
	Assert(n >= 1);
	merkle(leaves, n, out);
}

/* The hash of a block's canonical form */
static void
block_hash(int64 id, TimestampTz sealed_at, int64 entries, const uint8 *root,
		   const uint8 *prev, uint8 *out)
{
	StringInfoData buf;

	initStringInfo(&buf);
	miaopi_canon_cstring(&buf, MIAOPI_TAG_BLOCK);
	miaopi_canon_int(&buf, id);
	miaopi_canon_ts(&buf, sealed_at);
	miaopi_canon_int(&buf, entries);
	miaopi_canon_bytes(&buf, root, MIAOPI_HASH_LEN);
	if (prev)
		miaopi_canon_bytes(&buf, prev, MIAOPI_HASH_LEN);
	else
		miaopi_canon_null(&buf);
	miaopi_sha256(buf.data, buf.len, out);
	pfree(buf.data);
}

/* Copy a bytea hash Datum into out; false if NULL or not 32 bytes */
static bool
hash_datum(Datum d, bool isnull, uint8 *out)
{
	bytea	   *b;

	if (isnull)
		return false;
	b = DatumGetByteaPP(d);
	if (VARSIZE_ANY_EXHDR(b) != MIAOPI_HASH_LEN)
		return false;
	memcpy(out, VARDATA_ANY(b), MIAOPI_HASH_LEN);
	return true;
}

/* Copy a bytea hash column of tuple into out; false if NULL or not 32 bytes */
static bool
hash_attr(HeapTuple tuple, TupleDesc desc, int attnum, uint8 *out)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, attnum, &isnull);

	return hash_datum(d, isnull, out);
}

/* ---------------------------------------------------------------------
 * seal()
 * ---------------------------------------------------------------------
 */

/* One kind's bookkeeping during a seal */
typedef struct SealMark
{
	int64		through;		/* sealed_through before this seal */
	int64		new_through;
	bool		has_candidate;
	int64		candidate;
	ArrayType  *pending;		/* text[] of vxids, or NULL */
	bool		keep;			/* keep candidate and pending as they are */
} SealMark;

/* Have all the transactions of a pending text[] ended? */
static bool
pending_ended(ArrayType *pending)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	if (pending == NULL)
		return true;
	deconstruct_array(pending, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		VirtualTransactionId vxid;
		char	   *s;
		unsigned int backend;
		unsigned int lxid;

		if (nulls[i])
			continue;
		s = TextDatumGetCString(elems[i]);
		if (sscanf(s, "%u/%u", &backend, &lxid) != 2)
			continue;
		vxid.backendId = (BackendId) backend;
		vxid.localTransactionId = (LocalTransactionId) lxid;
		if (!VirtualXactLock(vxid, false))
			return false;
	}
	return true;
}

/* The transactions holding a lock on relid that conflicts with SHARE, as text[] */
static ArrayType *
table_lockers(Oid relid, int *count)
{
	LOCKTAG		tag;
	VirtualTransactionId *vxids;
	Datum	   *elems;
	int			n = 0;
	int			i;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	vxids = GetLockConflicts(&tag, ShareLock, NULL);
	for (i = 0; VirtualTransactionIdIsValid(vxids[i]); i++)
		;
	elems = palloc(sizeof(Datum) * Max(i, 1));
	for (i = 0; VirtualTransactionIdIsValid(vxids[i]); i++)
	{
		PGPROC	   *proc = BackendIdGetProc(vxids[i].backendId);

		/*
		 * A vacuum holds a lock that conflicts too, but never inserts; left
		 * in, an autovacuum of a big table would hold the mark back.
		 */
		if (proc != NULL && (proc->statusFlags & (PROC_IS_AUTOVACUUM | PROC_IN_VACUUM)))
			continue;
		elems[n++] = CStringGetTextDatum(psprintf("%u/%u", (unsigned int) vxids[i].backendId,
												  (unsigned int) vxids[i].localTransactionId));
	}
	*count = n;
	if (n == 0)
		return NULL;
	return construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT);
}

/* Read kind's ledger_mark row and decide what this seal does with it */
static void
read_mark(const SealKind *k, SealMark *m)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	char		sql[256];
	int64		hi;
	int			nlockers;
	ArrayType  *lockers;

	memset(m, 0, sizeof(SealMark));
	args[0] = CStringGetTextDatum(k->kind);
	if (SPI_execute_with_args("SELECT sealed_through, candidate, pending FROM miaopi.ledger_mark"
							  " WHERE kind OPERATOR(pg_catalog.=) $1", 1, types, args, NULL,
							  false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ledger_mark");
	if (SPI_processed == 1)
	{
		HeapTuple	t = SPI_tuptable->vals[0];
		TupleDesc	d = SPI_tuptable->tupdesc;
		Datum		v;

		m->through = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		v = SPI_getbinval(t, d, 2, &isnull);
		m->has_candidate = !isnull;
		m->candidate = isnull ? 0 : DatumGetInt64(v);
		v = SPI_getbinval(t, d, 3, &isnull);
		m->pending = isnull ? NULL : DatumGetArrayTypePCopy(v);
	}
	m->new_through = m->through;

	/* a candidate whose transactions have all ended is settled */
	if (m->has_candidate)
	{
		if (!pending_ended(m->pending))
		{
			m->keep = true;
			return;
		}
		m->new_through = Max(m->new_through, m->candidate);
		m->has_candidate = false;
		m->pending = NULL;
	}

	/* the next candidate: the sequence first, then who may still hold ids */
	snprintf(sql, sizeof(sql),
			 "SELECT CASE WHEN is_called THEN last_value ELSE last_value OPERATOR(pg_catalog.-) 1 END"
			 " FROM miaopi.%s", k->sequence);
	if (SPI_execute(sql, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read sequence miaopi.%s", k->sequence);
	hi = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	lockers = table_lockers(miaopi_relid(k->table), &nlockers);
	if (nlockers == 0)
		m->new_through = Max(m->new_through, hi);
	else
	{
		m->has_candidate = true;
		m->candidate = hi;
		m->pending = lockers;
	}
}

/* Write kind's ledger_mark row */
static void
write_mark(const SealKind *k, const SealMark *m)
{
	Oid			types[4] = {TEXTOID, INT8OID, INT8OID, TEXTARRAYOID};
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	args[0] = CStringGetTextDatum(k->kind);
	args[1] = Int64GetDatum(m->new_through);
	args[2] = Int64GetDatum(m->candidate);
	nulls[2] = m->has_candidate ? ' ' : 'n';
	args[3] = m->pending ? PointerGetDatum(m->pending) : (Datum) 0;
	nulls[3] = m->pending ? ' ' : 'n';
	if (SPI_execute_with_args("INSERT INTO miaopi.ledger_mark AS m (kind, sealed_through, candidate, pending)"
							  " VALUES ($1, $2, $3, $4) ON CONFLICT (kind) DO UPDATE"
							  " SET sealed_through = excluded.sealed_through,"
							  " candidate = excluded.candidate, pending = excluded.pending",
							  4, types, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write ledger_mark");
}

/* SQL: miaopi.seal() returns bigint */
PG_FUNCTION_INFO_V1(miaopi_seal);
Datum
miaopi_seal(PG_FUNCTION_ARGS)
{
	MiaopiOwnerSwitch owner;
	LOCKTAG		tag;
	SealMark	marks[NKINDS];
	int64		n = 0;
	int64		cap = 1024;
	char	  **kinds;
	int64	   *row_ids;
	uint8		(*hashes)[MIAOPI_HASH_LEN];
	bool	   *has_hash;
	uint8		(*leaves)[MIAOPI_HASH_LEN];
	uint8		root[MIAOPI_HASH_LEN];
	uint8		prev[MIAOPI_HASH_LEN];
	uint8		hash[MIAOPI_HASH_LEN];
	bool		has_prev = false;
	int64		block_id = 1;
	TimestampTz sealed_at = miaopi_now();
	int			k;
	int64		i;

	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("seal() must run at isolation level READ COMMITTED"),
				 errdetail("A seal must see what committed while it waited for the one before it."),
				 errhint("Run SELECT miaopi.seal() in its own READ COMMITTED transaction, as pg_cron does.")));

	miaopi_become_owner(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!miaopi_ledger_event_columns())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the audit ledger is not installed"),
				 errhint("Run ALTER EXTENSION miaopi UPDATE.")));

	/* one seal at a time; the statements below see what the one before did */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, MIAOPI_LOCK_KEY, MIAOPI_LOCK_SEAL, 2);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);

	for (k = 0; k < NKINDS; k++)
		read_mark(&seal_kinds[k], &marks[k]);

	kinds = palloc(sizeof(char *) * cap);
	row_ids = palloc(sizeof(int64) * cap);
	hashes = palloc(sizeof(*hashes) * cap);
	has_hash = palloc(sizeof(bool) * cap);
	for (k = 0; k < NKINDS; k++)
	{
		char		sql[512];
		Oid			types[1] = {INT8OID};
		Datum		args[1];
		uint64		r;

		snprintf(sql, sizeof(sql),
				 "SELECT t.id, t.hash FROM miaopi.%s t WHERE t.id OPERATOR(pg_catalog.>) $1"
				 " AND NOT EXISTS (SELECT FROM miaopi.ledger_entry l"
				 " WHERE l.kind OPERATOR(pg_catalog.=) '%s' AND l.row_id OPERATOR(pg_catalog.=) t.id)"
				 " ORDER BY t.id", seal_kinds[k].table, seal_kinds[k].kind);
		args[0] = Int64GetDatum(marks[k].through);
		if (SPI_execute_with_args(sql, 1, types, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read what is new in miaopi.%s", seal_kinds[k].table);
		for (r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			HeapTuple	t = SPI_tuptable->vals[r];

			if (n == cap)
			{
				cap *= 2;
				kinds = repalloc_huge(kinds, sizeof(char *) * cap);
				row_ids = repalloc_huge(row_ids, sizeof(int64) * cap);
				hashes = repalloc_huge(hashes, sizeof(*hashes) * cap);
				has_hash = repalloc_huge(has_hash, sizeof(bool) * cap);
			}
			kinds[n] = (char *) seal_kinds[k].kind;
			row_ids[n] = DatumGetInt64(SPI_getbinval(t, SPI_tuptable->tupdesc, 1, &isnull));
			has_hash[n] = hash_attr(t, SPI_tuptable->tupdesc, 2, hashes[n]);
			n++;
		}
		SPI_freetuptable(SPI_tuptable);
	}

	if (n > 0)
	{
		Oid			btypes[6] = {INT8OID, TIMESTAMPTZOID, INT8OID, BYTEAOID, BYTEAOID, BYTEAOID};
		Datum		bargs[6];
		char		bnulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
		Oid			etypes[4] = {INT8OID, TEXTARRAYOID, INT8ARRAYOID, BYTEAARRAYOID};
		Datum		eargs[4];
		Datum	   *col = palloc(sizeof(Datum) * n);
		bool	   *cnull = palloc0(sizeof(bool) * n);

		leaves = palloc(sizeof(*leaves) * n);
		for (i = 0; i < n; i++)
			miaopi_merkle_leaf(kinds[i], row_ids[i], has_hash[i] ? hashes[i] : NULL, leaves[i]);
		miaopi_merkle_root(leaves, n, root);

		if (SPI_execute("SELECT id, hash FROM miaopi.ledger_block ORDER BY id DESC LIMIT 1",
						true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the newest block");
		if (SPI_processed == 1)
		{
			bool		isnull;

			block_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
												   1, &isnull)) + 1;
			has_prev = hash_attr(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, prev);
		}
		block_hash(block_id, sealed_at, n, root, has_prev ? prev : NULL, hash);

		bargs[0] = Int64GetDatum(block_id);
		bargs[1] = TimestampTzGetDatum(sealed_at);
		bargs[2] = Int64GetDatum(n);
		bargs[3] = PointerGetDatum(miaopi_hash_bytea(root));
		bargs[4] = has_prev ? PointerGetDatum(miaopi_hash_bytea(prev)) : (Datum) 0;
		bnulls[4] = has_prev ? ' ' : 'n';
		bargs[5] = PointerGetDatum(miaopi_hash_bytea(hash));
		if (SPI_execute_with_args("INSERT INTO miaopi.ledger_block (id, sealed_at, entries, root,"
								  " prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6)",
								  6, btypes, bargs, bnulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not store block " INT64_FORMAT, block_id);

		eargs[0] = Int64GetDatum(block_id);
		for (i = 0; i < n; i++)
			col[i] = CStringGetTextDatum(kinds[i]);
		eargs[1] = PointerGetDatum(construct_array(col, n, TEXTOID, -1, false, TYPALIGN_INT));
		for (i = 0; i < n; i++)
			col[i] = Int64GetDatum(row_ids[i]);
		eargs[2] = PointerGetDatum(construct_array(col, n, INT8OID, 8, FLOAT8PASSBYVAL,
												   TYPALIGN_DOUBLE));
		for (i = 0; i < n; i++)
		{
			cnull[i] = !has_hash[i];
			col[i] = has_hash[i] ? PointerGetDatum(miaopi_hash_bytea(hashes[i])) : (Datum) 0;
		}
		{
			int			dims[1];
			int			lbs[1] = {1};

			dims[0] = (int) n;
			eargs[3] = PointerGetDatum(construct_md_array(col, cnull, 1, dims, lbs, BYTEAOID,
														  -1, false, TYPALIGN_INT));
		}
		if (SPI_execute_with_args("INSERT INTO miaopi.ledger_entry (block_id, leaf, kind, row_id, hash)"
								  " SELECT $1, (u.o OPERATOR(pg_catalog.-) 1)::pg_catalog.int4, u.k, u.r, u.h"
								  " FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4)) WITH ORDINALITY AS u(k, r, h, o)",
								  4, etypes, eargs, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not store the entries of block " INT64_FORMAT, block_id);
	}

	for (k = 0; k < NKINDS; k++)
		if (!marks[k].keep || marks[k].new_through != marks[k].through)
			write_mark(&seal_kinds[k], &marks[k]);

	SPI_finish();
	miaopi_restore_user(&owner);
	PG_RETURN_INT64(n);
}

/* ---------------------------------------------------------------------
 * verify_ledger()
 * ---------------------------------------------------------------------
 */

typedef struct LedgerOut
{
	Tuplestorestate *store;
	TupleDesc	desc;
} LedgerOut;

static void
ledger_report(LedgerOut *out, int64 block, const char *problem)
{
	Datum		values[2];
	bool		nulls[2] = {false, false};

	values[0] = Int64GetDatum(block);
	nulls[0] = (block == 0);
	values[1] = CStringGetTextDatum(problem);
	tuplestore_putvalues(out->store, out->desc, values, nulls);
}

/* A digest the caller passed */
typedef struct DigestArg
{
	int64		block;
	uint8		hash[MIAOPI_HASH_LEN];
} DigestArg;

/* Refuse a digests argument that is not an array of digest() objects */
static void
bad_digests(const char *detail_fmt, int element)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("digests must be a JSON array of digest() objects"),
			 element > 0 ? errdetail(detail_fmt, element) : errdetail("%s", detail_fmt),
			 errhint("Pass the stored outputs of miaopi.digest(), e.g. jsonb_build_array(miaopi.digest()).")));
}

/* Parse the digests argument (inside SPI) */
static DigestArg *
parse_digests(Jsonb *digests, int *count)
{
	Oid			types[1] = {JSONBOID};
	Datum		args[1];
	DigestArg  *out;
	uint64		r;

	if (!JB_ROOT_IS_ARRAY(digests) || JB_ROOT_IS_SCALAR(digests))
		bad_digests(JB_ROOT_IS_OBJECT(digests) ?
					"It is a single object, not an array." : "It is not an array.", 0);
	args[0] = JsonbPGetDatum(digests);
	if (SPI_execute_with_args("SELECT pg_catalog.jsonb_typeof(e),"
							  " pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'block'),"
							  " e OPERATOR(pg_catalog.->>) 'block',"
							  " pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'hash'),"
							  " e OPERATOR(pg_catalog.->>) 'hash'"
							  " FROM pg_catalog.jsonb_array_elements($1) WITH ORDINALITY AS a(e, o)"
							  " ORDER BY o", 1, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the digests");
	*count = (int) SPI_processed;
	out = palloc0(sizeof(DigestArg) * Max(SPI_processed, 1));
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	t = SPI_tuptable->vals[r];
		TupleDesc	d = SPI_tuptable->tupdesc;
		char	   *type = SPI_getvalue(t, d, 1);
		char	   *btype = SPI_getvalue(t, d, 2);
		char	   *block = SPI_getvalue(t, d, 3);
		char	   *htype = SPI_getvalue(t, d, 4);
		char	   *hex = SPI_getvalue(t, d, 5);
		char	   *end;
		int			i;

		if (strcmp(type, "object") != 0)
			bad_digests("Element %d is not an object.", (int) r + 1);
		if (btype == NULL || strcmp(btype, "number") != 0)
			bad_digests("Element %d has no \"block\" number.", (int) r + 1);
		errno = 0;
		out[r].block = strtoll(block, &end, 10);
		if (errno != 0 || *end != '\0' || out[r].block < 1)
			bad_digests("The \"block\" of element %d is not a block number.", (int) r + 1);
		if (htype == NULL || strcmp(htype, "string") != 0 || strlen(hex) != 2 * MIAOPI_HASH_LEN)
			bad_digests("Element %d has no \"hash\" of 64 hexadecimal digits.", (int) r + 1);
		for (i = 0; i < 2 * MIAOPI_HASH_LEN; i++)
			if (!isxdigit((unsigned char) hex[i]))
				bad_digests("Element %d has no \"hash\" of 64 hexadecimal digits.", (int) r + 1);
		hex_decode(hex, 2 * MIAOPI_HASH_LEN, (char *) out[r].hash);
	}
	return out;
}

/* A block as stored */
typedef struct BlockRow
{
	int64		id;
	int64		entries;
	uint8		hash[MIAOPI_HASH_LEN];
	bool		has_hash;
	uint8		root[MIAOPI_HASH_LEN];
	bool		has_root;
} BlockRow;

/* The block with id in blocks[0..n) (sorted), or NULL */
static BlockRow *
find_block(BlockRow *blocks, int64 n, int64 id)
{
	int64		lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int64		mid = (lo + hi) / 2;

		if (blocks[mid].id == id)
			return &blocks[mid];
		if (blocks[mid].id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* Check one block's gathered leaves against it */
static void
check_block_leaves(LedgerOut *out, BlockRow *blocks, int64 nblocks, int64 block_id,
				   uint8 (*leaves)[MIAOPI_HASH_LEN], int64 nleaves, bool order_ok)
{
	BlockRow   *b = find_block(blocks, nblocks, block_id);
	uint8		root[MIAOPI_HASH_LEN];

	if (b == NULL)
	{
		ledger_report(out, block_id, "entries name a block that does not exist");
		return;
	}
	b->entries = -b->entries - 1;	/* marks the block as seen */
	if (!order_ok)
		ledger_report(out, block_id, "the block's leaves are not numbered 0, 1, 2 ...");
	if (nleaves != -b->entries - 1)
	{
		ledger_report(out, block_id, psprintf("the block holds " INT64_FORMAT " entries, not the " INT64_FORMAT " it sealed",
											  nleaves, -b->entries - 1));
		return;
	}
	miaopi_merkle_root(leaves, nleaves, root);
	if (!b->has_root || memcmp(root, b->root, MIAOPI_HASH_LEN) != 0)
		ledger_report(out, block_id, "the Merkle root does not match the block's entries");
}

/* SQL: miaopi.verify_ledger(digests jsonb default null) */
PG_FUNCTION_INFO_V1(miaopi_verify_ledger);
Datum
miaopi_verify_ledger(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MiaopiOwnerSwitch owner;
	LedgerOut	out;
	DigestArg  *digests = NULL;
	int			ndigests = 0;
	BlockRow   *blocks;
	int64		nblocks;
	uint64		r;
	Portal		portal;
	int64		cur_block = 0;
	int64		nleaves = 0;
	int64		cap = 1024;
	uint8		(*leaves)[MIAOPI_HASH_LEN];
	bool		order_ok = true;
	bool		any = false;
	Tuplestorestate *chains;
	TupleDesc	chain_desc;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	out.store = rsinfo->setResult;
	out.desc = rsinfo->setDesc;

	miaopi_become_owner(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!PG_ARGISNULL(0))
		digests = parse_digests(PG_GETARG_JSONB_P(0), &ndigests);
	if (!miaopi_ledger_event_columns())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the audit ledger is not installed"),
				 errhint("Run ALTER EXTENSION miaopi UPDATE.")));

	/* 1. blocks: each hashes to its hash and links to the one before */
	if (SPI_execute("SELECT id, sealed_at, entries, root, prev_hash, hash FROM miaopi.ledger_block"
					" ORDER BY id", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the blocks");
	nblocks = SPI_processed;
	blocks = palloc0(sizeof(BlockRow) * Max(nblocks, 1));
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	t = SPI_tuptable->vals[r];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		BlockRow   *b = &blocks[r];
		TimestampTz sealed_at;
		uint8		prev[MIAOPI_HASH_LEN];
		bool		has_prev;
		uint8		hash[MIAOPI_HASH_LEN];

		b->id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		sealed_at = DatumGetTimestampTz(SPI_getbinval(t, d, 2, &isnull));
		b->entries = DatumGetInt64(SPI_getbinval(t, d, 3, &isnull));
		b->has_root = hash_attr(t, d, 4, b->root);
		has_prev = hash_attr(t, d, 5, prev);
		b->has_hash = hash_attr(t, d, 6, b->hash);

		if (b->id != (r == 0 ? 1 : blocks[r - 1].id + 1))
			ledger_report(&out, b->id,
						  psprintf("block " INT64_FORMAT " is missing", r == 0 ? 1 : blocks[r - 1].id + 1));
		if (r == 0 ? has_prev :
			(!has_prev || !blocks[r - 1].has_hash ||
			 memcmp(prev, blocks[r - 1].hash, MIAOPI_HASH_LEN) != 0))
			ledger_report(&out, b->id, "prev_hash does not link to the previous block");
		if (b->has_root)
			block_hash(b->id, sealed_at, b->entries, b->root, has_prev ? prev : NULL, hash);
		if (!b->has_root || !b->has_hash || memcmp(hash, b->hash, MIAOPI_HASH_LEN) != 0)
			ledger_report(&out, b->id, "the block's hash does not match its content");
	}
	SPI_freetuptable(SPI_tuptable);

	/* 2. entries: each still names its row's hash; the leaves give the root */
	leaves = palloc(sizeof(*leaves) * cap);
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT l.block_id, l.leaf, l.kind, l.row_id, l.hash,"
									   " CASE WHEN l.kind OPERATOR(pg_catalog.=) 'application' THEN a.hash ELSE e.hash END,"
									   " (a.id IS NOT NULL OR e.id IS NOT NULL)"
									   " FROM miaopi.ledger_entry l"
									   " LEFT JOIN miaopi.application a ON l.kind OPERATOR(pg_catalog.=) 'application'"
									   " AND a.id OPERATOR(pg_catalog.=) l.row_id"
									   " LEFT JOIN miaopi.event e ON l.kind OPERATOR(pg_catalog.=) 'event'"
									   " AND e.id OPERATOR(pg_catalog.=) l.row_id"
									   " ORDER BY l.block_id, l.leaf",
									   0, NULL, NULL, NULL, true, CURSOR_OPT_NO_SCROLL);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (r = 0; r < SPI_processed; r++)
		{
			HeapTuple	t = SPI_tuptable->vals[r];
			TupleDesc	d = SPI_tuptable->tupdesc;
			bool		isnull;
			int64		block_id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
			int32		leaf = DatumGetInt32(SPI_getbinval(t, d, 2, &isnull));
			char	   *kind = TextDatumGetCString(SPI_getbinval(t, d, 3, &isnull));
			int64		row_id = DatumGetInt64(SPI_getbinval(t, d, 4, &isnull));
			uint8		sealed[MIAOPI_HASH_LEN];
			uint8		now_hash[MIAOPI_HASH_LEN];
			bool		has_sealed = hash_attr(t, d, 5, sealed);
			bool		has_now;
			bool		present = DatumGetBool(SPI_getbinval(t, d, 7, &isnull));

			has_now = hash_attr(t, d, 6, now_hash);
			if (any && block_id != cur_block)
			{
				check_block_leaves(&out, blocks, nblocks, cur_block, leaves, nleaves, order_ok);
				nleaves = 0;
				order_ok = true;
			}
			any = true;
			cur_block = block_id;
			if (leaf != nleaves)
				order_ok = false;
			if (!present)
				ledger_report(&out, block_id, psprintf("%s " INT64_FORMAT " is sealed in this block but no longer exists",
													   kind, row_id));
			else if (has_now != has_sealed ||
					 (has_now && memcmp(now_hash, sealed, MIAOPI_HASH_LEN) != 0))
				ledger_report(&out, block_id, psprintf("%s " INT64_FORMAT ": its hash differs from the one sealed",
													   kind, row_id));
			if (nleaves == cap)
			{
				cap *= 2;
				leaves = repalloc_huge(leaves, sizeof(*leaves) * cap);
			}
			miaopi_merkle_leaf(kind, row_id, has_sealed ? sealed : NULL, leaves[nleaves]);
			nleaves++;
			pfree(kind);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	if (any)
		check_block_leaves(&out, blocks, nblocks, cur_block, leaves, nleaves, order_ok);
	for (r = 0; r < (uint64) nblocks; r++)
	{
		if (blocks[r].entries >= 0)
			ledger_report(&out, blocks[r].id, "the block's entries are missing");
		else
			blocks[r].entries = -blocks[r].entries - 1;
	}

	/* 3. every chain */
	{
		TupleDesc	td = CreateTemplateTupleDesc(3);

		TupleDescInitEntry(td, 1, "chain", TEXTOID, -1, 0);
		TupleDescInitEntry(td, 2, "row_id", INT8OID, -1, 0);
		TupleDescInitEntry(td, 3, "problem", TEXTOID, -1, 0);
		chain_desc = BlessTupleDesc(td);
		chains = tuplestore_begin_heap(false, false, work_mem);
		if (miaopi_ledger_verify_all(chains, chain_desc) > 0)
		{
			TupleTableSlot *slot = MakeSingleTupleTableSlot(chain_desc, &TTSOpsMinimalTuple);

			while (tuplestore_gettupleslot(chains, true, false, slot))
			{
				bool		isnull;
				char	   *chain = TextDatumGetCString(slot_getattr(slot, 1, &isnull));
				int64		row_id = DatumGetInt64(slot_getattr(slot, 2, &isnull));
				char	   *problem = TextDatumGetCString(slot_getattr(slot, 3, &isnull));

				ledger_report(&out, 0, psprintf("%s, row " INT64_FORMAT ": %s", chain, row_id, problem));
			}
			ExecDropSingleTupleTableSlot(slot);
		}
		tuplestore_end(chains);
	}

	/* 4. the digests kept outside name blocks that are still as they were */
	for (i = 0; i < ndigests; i++)
	{
		BlockRow   *b = find_block(blocks, nblocks, digests[i].block);

		if (b == NULL)
			ledger_report(&out, digests[i].block, "the digest names a block that does not exist");
		else if (!b->has_hash || memcmp(b->hash, digests[i].hash, MIAOPI_HASH_LEN) != 0)
			ledger_report(&out, digests[i].block, "the block's hash differs from the digest");
	}

	SPI_finish();
	miaopi_restore_user(&owner);
	return (Datum) 0;
}

/* SQL: trigger keeping ledger_block and ledger_entry append-only */
PG_FUNCTION_INFO_V1(miaopi_ledger_append_only);
Datum
miaopi_ledger_append_only(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("miaopi_ledger_append_only: must be called as trigger")));
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("miaopi_ledger_append_only: must not be fired by INSERT")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("miaopi.%s is append-only", RelationGetRelationName(trigdata->tg_relation)),
			 errdetail("%s of the ledger is not allowed.",
					   TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? "UPDATE" :
					   TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ? "DELETE" : "TRUNCATE"),
			 errtable(trigdata->tg_relation),
			 errhint("Blocks are sealed once; miaopi.seal() adds new ones.")));
	PG_RETURN_POINTER(NULL);
}
