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
extern void miaopi_become_owner(Oid *save_userid, int *save_sec_context);
extern void miaopi_restore_user(Oid save_userid, int save_sec_context);

/*
 * Workflow state machine flag: while set, the application UPDATE guard lets
 * miaopi's own functions move an application.  Set it only around a single
 * UPDATE and always reset it (PG_FINALLY).
 */
extern bool miaopi_internal_update;

#endif							/* MIAOPI_MIAOPI_H */
