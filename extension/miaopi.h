/*-------------------------------------------------------------------------
 *
 * miaopi.h
 *	  Shared declarations of the miaopi PostgreSQL glue.
 *
 * IDENTIFICATION
 *	  extension/miaopi.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIAOPI_MIAOPI_H
#define MIAOPI_MIAOPI_H

#include "utils/timestamp.h"

#define MIAOPI_SCHEMA		"miaopi"
#define MIAOPI_MACHINE		"miaopi"	/* decided_by for machine decisions */


/* miaopi.c */
extern TimestampTz miaopi_now(void);
extern Oid	miaopi_schema_oid(void);
extern Oid	miaopi_relid(const char *relname);

/*
 * An owner switch: miaopi_become_owner() runs what follows as the owner of
 * miaopi's tables, restricted and with a pinned search_path, until
 * miaopi_restore_user().
 */
typedef struct MiaopiOwnerSwitch
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} MiaopiOwnerSwitch;

extern void miaopi_become_owner(MiaopiOwnerSwitch *sw);
extern void miaopi_restore_user(MiaopiOwnerSwitch *sw);
extern int	miaopi_pin_search_path(void);

/*
 * trigger.c: the application UPDATE guard lets one UPDATE of one row through
 * while miaopi's own function that called miaopi_allow_update(id) makes it.
 * Always pair it with miaopi_forbid_update() (PG_FINALLY).
 */
extern void miaopi_allow_update(int64 id);
extern void miaopi_allow_updates(const int64 *ids, int n);
extern void miaopi_forbid_update(void);

#endif							/* MIAOPI_MIAOPI_H */
