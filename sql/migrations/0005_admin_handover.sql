-- Two-step admin handover (propose_admin, then accept_admin): the proposed admin, until
-- it accepts or the proposal is withdrawn. NULL: nothing pending.
ALTER TABLE config ADD COLUMN pending_admin text;
