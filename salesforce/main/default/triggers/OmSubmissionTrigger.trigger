/**
 * Submits an opportunity to Order Management when the rep's submission
 * Flow fills OM_Submission__c (or changes it on a resubmission).
 * Callouts cannot run inside a trigger, so the work is queued.
 */
trigger OmSubmissionTrigger on Opportunity (after insert, after update) {
    List<Id> submitted = new List<Id>();
    for (Opportunity opp : Trigger.new) {
        Opportunity before = Trigger.isUpdate ? Trigger.oldMap.get(opp.Id) : null;
        Boolean filled = String.isNotBlank(opp.OM_Submission__c);
        Boolean changed = before == null || before.OM_Submission__c != opp.OM_Submission__c;
        if (filled && changed) {
            submitted.add(opp.Id);
        }
    }
    if (!submitted.isEmpty() && !System.isFuture() && !System.isQueueable()) {
        System.enqueueJob(new OmIntakeCallout(submitted));
    }
}
