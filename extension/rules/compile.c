/*-------------------------------------------------------------------------
 *
 * compile.c
 *	  mr_compile: the rule compiler's entry point.
 *
 * A load is all or nothing: the whole source is parsed into a YAML node
 * tree (in a scratch arena), every document is validated and compiled into
 * the caller's arena, and the first error stops everything.  The scratch
 * arena, and with it every trace of libyaml, is gone before mr_compile
 * returns, so the host may resolve nothing and call nothing of its own
 * while a parser is live; it only supplies the resolver, which is called
 * after the YAML stage.
 *
 * IDENTIFICATION
 *	  extension/rules/compile.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "mr_internal.h"

/*
 * mr_compile compiles every document in src.  Returns NULL and fills *err
 * on the first error.
 */
MrRuleset *
mr_compile(MrArena *arena, const char *src, size_t len, const MrResolver *resolver,
		   MrError *err)
{
	MrCtx		ctx;
	MrYDoc	   *docs;
	MrYDoc	   *doc;
	MrRuleset  *rs = NULL;
	const char **codes;
	int		   *firstdup;
	int			ndocs;
	int			i;
	int			j;

	memset(err, 0, sizeof(*err));
	memset(&ctx, 0, sizeof(ctx));
	ctx.arena = arena;
	ctx.err = err;
	ctx.resolver = resolver;
	ctx.src = src;
	ctx.srclen = len;

	if (arena == NULL || (src == NULL && len > 0))
	{
		mr_fail_nomem(&ctx);
		return NULL;
	}
	if (len > MR_MAX_SOURCE_BYTES)
	{
		mr_fail(&ctx, MR_ERR_LIMIT, 0, 0, "rule source is too large (%lu bytes; the limit is %d)",
				(unsigned long) len, MR_MAX_SOURCE_BYTES);
		mr_hint(&ctx, "Load the services in several smaller sources.");
		return NULL;
	}
	if (src == NULL)
		ctx.src = "";
	ctx.scratch = mr_arena_create();
	if (ctx.scratch == NULL)
	{
		mr_fail_nomem(&ctx);
		return NULL;
	}

	docs = mr_yaml_parse(&ctx, &ndocs);
	if (ctx.failed)
		goto done;
	if (ndocs == 0)
	{
		mr_fail(&ctx, MR_ERR_RULE, 0, 0, "rule source contains no service documents");
		mr_hint(&ctx, "Write one YAML document per service, separated by \"---\".");
		goto done;
	}

	rs = mr_alloc(&ctx, sizeof(MrRuleset));
	if (rs == NULL)
		goto done;
	rs->services = mr_alloc(&ctx, sizeof(MrService *) * (size_t) ndocs);
	codes = mr_salloc(&ctx, sizeof(char *) * (size_t) ndocs);
	firstdup = mr_salloc(&ctx, sizeof(int) * (size_t) ndocs);
	if (rs->services == NULL || codes == NULL || firstdup == NULL)
		goto done;

	/* find repeated service codes up front */
	for (doc = docs, i = 0; doc != NULL; doc = doc->next, i++)
	{
		const MrYNode *root = doc->root;

		if (root == NULL || root->type != MR_Y_MAPPING)
			continue;
		for (j = 0; j < root->n; j++)
			if (strcmp(root->items[2 * j]->value, "service") == 0 &&
				root->items[2 * j + 1]->type == MR_Y_SCALAR)
				codes[i] = root->items[2 * j + 1]->value;
	}
	if (!mr_find_duplicates(&ctx, codes, ndocs, firstdup))
		goto done;

	for (doc = docs, i = 0; doc != NULL; doc = doc->next, i++)
	{
		MrService  *svc = mr_build_service(&ctx, doc);

		if (svc == NULL)
			goto done;
		if ((j = firstdup[i]) >= 0)
		{
			const MrYNode *root = doc->root;
			int			k;

			/* point at the service key's value in this document */
			for (k = 0; k < root->n; k++)
				if (strcmp(root->items[2 * k]->value, "service") == 0)
					root = root->items[2 * k + 1];
			mr_fail_node(&ctx, MR_ERR_RULE, root, "duplicate service \"%s\"", svc->code);
			mr_hint(&ctx, "The service is already defined in the document at line %d; each service appears once in a load.",
					rs->services[j]->line);
			goto done;
		}
		rs->services[i] = svc;
		rs->nservices = i + 1;
	}

done:
	mr_arena_destroy(ctx.scratch);
	ctx.service = NULL;
	ctx.check = NULL;
	if (ctx.failed)
		return NULL;
	return rs;
}
