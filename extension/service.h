/*-------------------------------------------------------------------------
 *
 * service.h
 *	  The per-backend cache of miaopi.service.
 *
 * IDENTIFICATION
 *	  extension/service.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIAOPI_SERVICE_H
#define MIAOPI_SERVICE_H

typedef enum MiaopiKind
{
	MIAOPI_KIND_LICENCE,
	MIAOPI_KIND_PUBLIC_SERVICE,
	MIAOPI_KIND_FILING,
	MIAOPI_KIND_POLICY			/* 惠企政策: decide, deliver, like a filing */
} MiaopiKind;

typedef enum MiaopiStep
{
	MIAOPI_STEP_ACCEPT,
	MIAOPI_STEP_REVIEW,
	MIAOPI_STEP_DECIDE,
	MIAOPI_STEP_DELIVER,
	MIAOPI_STEP_NONE
} MiaopiStep;

#define MIAOPI_NSTEPS 4

/* A service, as cached per backend */
typedef struct MiaopiService
{
	struct MiaopiService *next;
	char	   *code;
	int			codelen;
	char	   *department;		/* NULL when it has none */
	MiaopiKind	kind;
	char	   *calendar;
	int			statutory_days;
	int			promised_days;
	double		warn_ratio;
	int			extension_days;
	bool		has_step[MIAOPI_NSTEPS];
	int			step_limit[MIAOPI_NSTEPS];	/* working days, -1 = none */
	int64		ruleset_id;		/* current ruleset, 0 when it has none */
	bool		auto_approve;
} MiaopiService;

/*
 * The cached service with code (len bytes, not necessarily terminated).  An
 * unknown code raises an error unless missing_ok (then NULL); a malformed
 * service always does.  The pointer is valid until the next lookup.
 */
extern const MiaopiService *miaopi_service_lookup(const char *code, int len,
												  bool missing_ok);
extern uint64 miaopi_service_generation(void);
extern MiaopiService *miaopi_service_copy(const MiaopiService *svc);
extern const char *miaopi_step_name(MiaopiStep step);
extern const char *miaopi_kind_name(MiaopiKind kind);

#endif							/* MIAOPI_SERVICE_H */
