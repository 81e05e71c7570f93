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
 * Workflow state machine flag: while set, the application UPDATE guard lets
 * miaopi's own functions move an application.  Set it only around a single
 * UPDATE and always reset it (PG_FINALLY).
 */
extern bool miaopi_internal_update;

#endif							/* MIAOPI_MIAOPI_H */
