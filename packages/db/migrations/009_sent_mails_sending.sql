-- A mail being sent: its row is written before the send, with the run that sends it (the job's
-- attempts made and stalled count then), and settled (both NULL) once the server accepted it. A
-- run of the same attempt after a crash (stalled count higher) that finds it unsettled cannot know
-- whether the mail went out, and does not send it again.
ALTER TABLE sent_mails
  ADD COLUMN sending_attempt integer,
  ADD COLUMN sending_stalled integer;
