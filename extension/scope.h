/*-------------------------------------------------------------------------
 *
 * scope.h
 *	  Scopes: which role may load rules for, act on, or submit applications
 *	  to which services (miaopi.scope).
 *
 * IDENTIFICATION
 *	  extension/scope.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIAOPI_SCOPE_H
#define MIAOPI_SCOPE_H

#include "service.h"

typedef enum MiaopiScopeAction
{
	MIAOPI_SCOPE_LOAD,
	MIAOPI_SCOPE_ACT,
	MIAOPI_SCOPE_SUBMIT
} MiaopiScopeAction;

/* scope.c */
extern bool miaopi_scope_allows(Oid roleid, MiaopiScopeAction action,
								const char *department, const char *service_code);
extern void miaopi_scope_check(Oid roleid, MiaopiScopeAction action,
							   const char *department, const char *service_code);
extern void miaopi_scope_check_service(Oid roleid, MiaopiScopeAction action,
									   const MiaopiService *svc);

#endif							/* MIAOPI_SCOPE_H */
