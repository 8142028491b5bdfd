-- Argo CD health of a HelixBatchJob (resource.customizations.health.batch.helixagent.io_HelixBatchJob):
-- Progressing until it finishes, Healthy when it succeeded, Degraded when it failed or was
-- cancelled (the reason first in the message), Suspended while parked.
local hs = {status = "Progressing", message = "waiting for the operator"}
if obj.status == nil or obj.status.phase == nil then
  if obj.spec ~= nil and obj.spec.suspend == true then
    hs.status = "Suspended"
    hs.message = "created suspended"
  end
  return hs
end
local phase = obj.status.phase
local reason = obj.status.reason or phase
local message = obj.status.message or ""
if phase == "Succeeded" then
  hs.status = "Healthy"
elseif phase == "Failed" or phase == "Cancelled" then
  hs.status = "Degraded"
elseif phase == "Suspended" then
  hs.status = "Suspended"
end
if message ~= "" then
  hs.message = reason .. ": " .. message
else
  hs.message = reason
end
return hs
