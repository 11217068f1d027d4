"""The dialog's states. The stored conversation state holds one of these as its step (flow = the part before
the dot); the patient's answers so far are in the state's data."""
MENU = "menu"
LANGUAGE = "language"
CHECKIN_MODE = "checkin.mode"
FACE_PHOTO = "checkin.face_photo"
REGION_PHOTO = "checkin.region_photo"
QUESTION = "checkin.question"
ANALYSING = "checkin.analysing"
ANALYSIS_FAILED = "checkin.analysis_failed"
HISTORY = "history"
COMPARE_FIRST = "history.compare_first"
COMPARE_SECOND = "history.compare_second"
MY_DATA = "data"
CONFIRM_DELETE = "data.confirm_delete"
REMINDERS = "reminders"
HANDOVER = "handover"

CHECKIN_STEPS = (CHECKIN_MODE, FACE_PHOTO, REGION_PHOTO, QUESTION, ANALYSING, ANALYSIS_FAILED)
