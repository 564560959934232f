-- dxbot's schema on SQLite at revision 0008
-- Written by `python -m storage.sqlite_schema` from the migrations; do not edit.
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO "alembic_version" VALUES('0008');
CREATE TABLE audit_log (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	actor_adapter VARCHAR(32), 
	actor_id VARCHAR(255), 
	action VARCHAR(64) NOT NULL, 
	subject_type VARCHAR(32) NOT NULL, 
	subject_id INTEGER, 
	detail JSON NOT NULL, 
	note TEXT, 
	PRIMARY KEY (id)
);
CREATE TABLE downloads (
	id INTEGER NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	filename VARCHAR(255) NOT NULL, 
	content_type VARCHAR(255) NOT NULL, 
	data BLOB NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	created_by_adapter VARCHAR(32) NOT NULL, 
	created_by_id VARCHAR(255) NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (token_hash)
);
CREATE TABLE duties (
	id INTEGER NOT NULL, 
	"key" VARCHAR(300), 
	"group" VARCHAR(100) NOT NULL, 
	title VARCHAR(200) NOT NULL, 
	rule VARCHAR(200) NOT NULL, 
	assignee VARCHAR(300) NOT NULL, 
	reminders JSON NOT NULL, 
	active BOOLEAN NOT NULL, 
	created_by VARCHAR(255), 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE ("key")
);
CREATE TABLE duty_occurrences (
	id INTEGER NOT NULL, 
	duty_id INTEGER NOT NULL, 
	due_at DATETIME NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	done_at DATETIME, 
	done_by VARCHAR(255), 
	snoozed_until DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(duty_id) REFERENCES duties (id) ON DELETE CASCADE, 
	CONSTRAINT uq_duty_occurrence UNIQUE (duty_id, due_at)
);
CREATE TABLE form_sessions (
	id INTEGER NOT NULL, 
	adapter VARCHAR(32) NOT NULL, 
	user_id VARCHAR(255) NOT NULL, 
	conversation_id VARCHAR(255) NOT NULL, 
	form VARCHAR(64) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	step VARCHAR(64) NOT NULL, 
	answers JSON NOT NULL, 
	progress JSON NOT NULL, 
	locale VARCHAR(8) NOT NULL, 
	version INTEGER NOT NULL, 
	started_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	nudged_at DATETIME, 
	finished_at DATETIME, 
	PRIMARY KEY (id)
);
CREATE TABLE group_leaders (
	id INTEGER NOT NULL, 
	group_id INTEGER NOT NULL, 
	adapter VARCHAR(32) NOT NULL, 
	user_id VARCHAR(255) NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(group_id) REFERENCES working_groups (id) ON DELETE CASCADE, 
	CONSTRAINT uq_group_leader UNIQUE (group_id, adapter, user_id)
);
CREATE TABLE inbox (
	id INTEGER NOT NULL, 
	adapter VARCHAR(32) NOT NULL, 
	event_id VARCHAR(255) NOT NULL, 
	serial_key VARCHAR(600) NOT NULL, 
	payload JSON NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	last_error TEXT, 
	received_at DATETIME NOT NULL, 
	handled_at DATETIME, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_inbox_adapter_event UNIQUE (adapter, event_id)
);
CREATE TABLE issue_counters (
	fiscal_year INTEGER NOT NULL, 
	last INTEGER NOT NULL, 
	PRIMARY KEY (fiscal_year)
);
CREATE TABLE issue_events (
	id INTEGER NOT NULL, 
	issue_id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	actor_adapter VARCHAR(32) NOT NULL, 
	actor_id VARCHAR(255) NOT NULL, 
	actor_name VARCHAR(255) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	from_value VARCHAR(255), 
	to_value VARCHAR(255), 
	comment TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(issue_id) REFERENCES issues (id) ON DELETE CASCADE
);
CREATE TABLE issue_grams (
	issue_id INTEGER NOT NULL, 
	gram VARCHAR(8) NOT NULL, 
	PRIMARY KEY (issue_id, gram), 
	FOREIGN KEY(issue_id) REFERENCES issues (id) ON DELETE CASCADE
);
CREATE TABLE issue_supports (
	id INTEGER NOT NULL, 
	issue_id INTEGER NOT NULL, 
	adapter VARCHAR(32) NOT NULL, 
	user_id VARCHAR(255) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(issue_id) REFERENCES issues (id) ON DELETE CASCADE, 
	CONSTRAINT uq_issue_support UNIQUE (issue_id, adapter, user_id)
);
CREATE TABLE issues (
	id INTEGER NOT NULL, 
	number VARCHAR(16) NOT NULL, 
	fiscal_year INTEGER NOT NULL, 
	seq INTEGER NOT NULL, 
	title VARCHAR(200) NOT NULL, 
	section VARCHAR(100) NOT NULL, 
	section_known BOOLEAN NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	working_group VARCHAR(100), 
	reporter_adapter VARCHAR(32) NOT NULL, 
	reporter_id VARCHAR(255) NOT NULL, 
	reporter_name VARCHAR(255) NOT NULL, 
	answers JSON NOT NULL, 
	annual_hours FLOAT NOT NULL, 
	contact_ok BOOLEAN NOT NULL, 
	support_count INTEGER NOT NULL, 
	form_session_id INTEGER, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, assignee VARCHAR(255), 
	PRIMARY KEY (id), 
	CONSTRAINT uq_issue_number UNIQUE (fiscal_year, seq), 
	UNIQUE (form_session_id), 
	UNIQUE (number)
);
CREATE TABLE outbox (
	id INTEGER NOT NULL, 
	adapter VARCHAR(32) NOT NULL, 
	conversation_key VARCHAR(600) NOT NULL, 
	idempotency_key VARCHAR(64) NOT NULL, 
	payload JSON NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	lease_until DATETIME, 
	last_error TEXT, 
	created_at DATETIME NOT NULL, 
	sent_at DATETIME, 
	platform_message_id VARCHAR(255), 
	PRIMARY KEY (id), 
	UNIQUE (idempotency_key)
);
CREATE TABLE pending_choices (
	id INTEGER NOT NULL, 
	adapter VARCHAR(32) NOT NULL, 
	conversation_id VARCHAR(300) NOT NULL, 
	choices JSON NOT NULL, 
	offered_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_choices_conv UNIQUE (adapter, conversation_id)
);
CREATE TABLE schedule_runs (
	run_key VARCHAR(300) NOT NULL, 
	claimed_at DATETIME NOT NULL, 
	owner VARCHAR(100) NOT NULL, 
	PRIMARY KEY (run_key)
);
CREATE TABLE sections (
	id INTEGER NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	active BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name)
);
CREATE TABLE staff (
	id INTEGER NOT NULL, 
	adapter VARCHAR(32) NOT NULL, 
	external_id VARCHAR(255) NOT NULL, 
	display_name VARCHAR(255) NOT NULL, 
	locale VARCHAR(8), 
	role VARCHAR(16) NOT NULL, 
	created_at DATETIME NOT NULL, section VARCHAR(100), active BOOLEAN DEFAULT 1 NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_staff_platform_id UNIQUE (adapter, external_id)
);
CREATE TABLE working_groups (
	id INTEGER NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	adapter VARCHAR(32) NOT NULL, 
	channel VARCHAR(255), 
	keywords JSON NOT NULL, 
	sections JSON NOT NULL, 
	active BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name)
);
CREATE INDEX ix_inbox_serial ON inbox (serial_key, status, id);
CREATE INDEX ix_outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX ix_outbox_order ON outbox (conversation_key, status, id);
CREATE INDEX ix_audit_subject ON audit_log (subject_type, subject_id);
CREATE INDEX ix_form_sessions_idle ON form_sessions (status, updated_at);
CREATE INDEX ix_form_sessions_owner ON form_sessions (adapter, user_id, status);
CREATE INDEX ix_issues_group ON issues (working_group, status);
CREATE INDEX ix_issues_reporter ON issues (reporter_adapter, reporter_id);
CREATE INDEX ix_issues_section ON issues (section);
CREATE INDEX ix_issues_status ON issues (status);
CREATE INDEX ix_issue_grams_gram ON issue_grams (gram, issue_id);
CREATE INDEX ix_issue_events_issue ON issue_events (issue_id, id);
CREATE INDEX ix_downloads_expires ON downloads (expires_at);
CREATE INDEX ix_group_leaders_user ON group_leaders (adapter, user_id);
CREATE INDEX ix_duty_occurrences_open ON duty_occurrences (status, due_at);
CREATE INDEX ix_issue_events_status_at ON issue_events (at, to_value, issue_id) WHERE kind = 'status';
CREATE INDEX ix_issue_events_milestones ON issue_events (to_value, at, issue_id) WHERE kind = 'status' AND to_value IN ('pilot', 'implemented');
CREATE INDEX ix_issues_created ON issues (created_at);
CREATE INDEX ix_issues_group_created ON issues (working_group, created_at);
CREATE INDEX ix_issues_group_updated ON issues (working_group, updated_at);
CREATE INDEX ix_issues_pipeline ON issues (section, status, fiscal_year, annual_hours);
CREATE INDEX ix_inbox_live ON inbox (id) WHERE status = 'pending';
CREATE INDEX ix_outbox_live ON outbox (id) WHERE status IN ('pending', 'sending');
