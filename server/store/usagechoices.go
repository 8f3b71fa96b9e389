package store

import "strconv"

// Migration step 5 counts, in usage_days, the accepted completion choices
// that were not the first candidate (choice_index > 0: the user cycled to
// another suggestion before accepting it), so the usage page can say how
// often cycling helped. It adds the column, counts the events already
// stored and makes the usage trigger keep it, in each dialect.

var usageChoicesMigration = `
ALTER TABLE usage_days ADD COLUMN accepted_other INTEGER NOT NULL DEFAULT 0;
DROP TRIGGER events_count_usage;
CREATE TRIGGER events_count_usage AFTER INSERT ON events WHEN NEW.type IN ('view', 'select') BEGIN
	INSERT INTO usage_days(day, token_name, language, shown, accepted, accepted_other)
	SELECT NEW.created_at / 86400000, NEW.token_name, ` + usageLanguage("NEW.language") + `, NEW.type = 'view', NEW.type = 'select',
		NEW.type = 'select' AND NEW.choice_index > 0
	WHERE NOT EXISTS (SELECT 1 FROM events e
		WHERE e.completion_id = NEW.completion_id AND e.choice_index = NEW.choice_index AND e.type = NEW.type
		AND e.token_name = NEW.token_name AND ` + usageLanguage("e.language") + ` = ` + usageLanguage("NEW.language") + `
		AND e.created_at / 86400000 = NEW.created_at / 86400000 AND e.id <> NEW.id)
	ON CONFLICT (day, token_name, language) DO UPDATE SET shown = shown + excluded.shown, accepted = accepted + excluded.accepted,
		accepted_other = accepted_other + excluded.accepted_other;
END;
` + backfillAcceptedOther

var pgUsageChoices = `
ALTER TABLE usage_days ADD COLUMN accepted_other INTEGER NOT NULL DEFAULT 0;
CREATE OR REPLACE FUNCTION serval_count_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(` + strconv.Itoa(usageLockClass) + `, hashtext(NEW.completion_id || '/' || NEW.choice_index) & ` + strconv.Itoa(usageLockBuckets-1) + `);
	INSERT INTO usage_days(day, token_name, language, shown, accepted, accepted_other)
	SELECT NEW.created_at / 86400000, NEW.token_name, ` + usageLanguage("NEW.language") + `,
		CASE WHEN NEW.type = 'view' THEN 1 ELSE 0 END, CASE WHEN NEW.type = 'select' THEN 1 ELSE 0 END,
		CASE WHEN NEW.type = 'select' AND NEW.choice_index > 0 THEN 1 ELSE 0 END
	WHERE NOT EXISTS (SELECT 1 FROM events e
		WHERE e.completion_id = NEW.completion_id AND e.choice_index = NEW.choice_index AND e.type = NEW.type
		AND e.token_name = NEW.token_name AND ` + usageLanguage("e.language") + ` = ` + usageLanguage("NEW.language") + `
		AND e.created_at / 86400000 = NEW.created_at / 86400000 AND e.id <> NEW.id)
	ON CONFLICT (day, token_name, language) DO UPDATE
		SET shown = usage_days.shown + excluded.shown, accepted = usage_days.accepted + excluded.accepted,
			accepted_other = usage_days.accepted_other + excluded.accepted_other;
	RETURN NULL;
END $$;
` + backfillAcceptedOther

// backfillAcceptedOther counts the events stored before step 5 (the same
// SQL in both dialects).
var backfillAcceptedOther = `
UPDATE usage_days SET accepted_other = s.n FROM (
	SELECT created_at / 86400000 AS d, token_name AS t, ` + usageLanguage("language") + ` AS l,
		count(DISTINCT completion_id || '/' || choice_index) AS n
	FROM events WHERE type = 'select' AND choice_index > 0 GROUP BY d, t, l
) AS s WHERE usage_days.day = s.d AND usage_days.token_name = s.t AND usage_days.language = s.l;
`
