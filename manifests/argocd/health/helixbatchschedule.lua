-- Argo CD health of a HelixBatchSchedule (resource.customizations.health.batch.helixagent.io_HelixBatchSchedule):
-- Suspended when spec.suspend; Degraded when the operator refuses its spec or template (Ready
-- False) or its latest finished run failed (the reason first in the message); Progressing while
-- a run is active or before the operator has seen it; Healthy otherwise.
local function said(reason, message)
  if message ~= nil and message ~= "" then
    return reason .. ": " .. message
  end
  return reason
end
if obj.spec ~= nil and obj.spec.suspend == true then
  return {status = "Suspended", message = "spec.suspend is true: no new runs"}
end
local status = obj.status
if status == nil or status.observedGeneration == nil then
  return {status = "Progressing", message = "waiting for the operator"}
end
for _, condition in ipairs(status.conditions or {}) do
  if condition.type == "Ready" and condition.status == "False" then
    return {status = "Degraded", message = said(condition.reason or "NotReady", condition.message)}
  end
end
local last = status.lastRun
if last ~= nil and (last.phase == "Failed" or last.phase == "Cancelled") then
  local message = said(last.reason or last.phase, last.message)
  return {status = "Degraded", message = message .. " (run " .. (last.name or "?") .. ")"}
end
local active = {}
for i, ref in ipairs(status.active or {}) do
  active[i] = ref.name
end
if #active > 0 then
  return {status = "Progressing", message = "running " .. table.concat(active, ", ")}
end
if last ~= nil then
  return {status = "Healthy", message = "last run " .. (last.name or "?") .. " " .. (last.phase or "")}
end
return {status = "Healthy", message = "no run yet"}
