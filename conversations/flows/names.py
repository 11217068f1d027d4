"""The dialog's steps, by name: flows move from one to the next with `await turn.goto(NAME)` (turn.py), so no
flow imports another; each flow declares the steps it answers for (its STEPS) and conversations/flows/__init__.py
merges them.

States: the stored conversation state holds one of these as its step (flow = the part before the dot); the
patient's answers so far are in the state's data. Stored in the database: never rename one."""
MENU = "menu"
LANGUAGE = "language"
CHECKIN_MODE = "checkin.mode"
FACE_PHOTO = "checkin.face_photo"
REGION_PHOTO = "checkin.region_photo"
QUESTION = "checkin.question"
CHANGES = "checkin.changes"
POSE_CHECK = "checkin.pose_check"
ANALYSING = "checkin.analysing"
ANALYSIS_FAILED = "checkin.analysis_failed"
HISTORY = "history"
COMPARE_FIRST = "history.compare_first"
COMPARE_SECOND = "history.compare_second"
MY_DATA = "data"
CONFIRM_DELETE = "data.confirm_delete"
REMINDERS = "reminders"
HANDOVER = "handover"
REMINDER_TIME = "reminders.time"
REMINDER_ZONE = "reminders.zone"

CHECKIN_STEPS = (CHECKIN_MODE, FACE_PHOTO, REGION_PHOTO, POSE_CHECK, QUESTION, CHANGES, ANALYSING, ANALYSIS_FAILED)

# Entries: the ways into a flow from elsewhere (another flow, a menu button, a reminder's button). An entry is a
# step without a prompt, never stored as the patient's step: its enter hook does the work and moves on to one of
# the states above by name, or leaves the patient where they are.
START = "start"  # /start: the check-in in progress again, or welcome back to the menu
HELP = "start.help"
CHOOSE_LANGUAGE = "language.open"  # LANGUAGE, coming back to the step it was chosen from
NEW_CHECKIN = "checkin.new"
CHECKIN_PHOTO = "checkin.photo"  # a photo for the check-in (an album's later photos arrive while questions are asked)
CHECKIN_QUESTIONS = "checkin.questions"  # every photo is in: the questions, then the analysis
START_ANALYSIS = "checkin.start_analysis"
STILL_ANALYSING = "checkin.still_analysing"  # said so, or the analysis restarted when a restart cut it off
SHOW_HISTORY = "history.show"
EDIT_PROFILE = "data.edit_profile"
OPEN_REMINDERS = "reminders.open"
AFTER_RESULT = "reminders.after_result"  # under a result: its advice, the reminders offer and the menu, in one
TALK_TO_PERSON = "handover.open"

ENTRIES = (START, HELP, CHOOSE_LANGUAGE, NEW_CHECKIN, CHECKIN_PHOTO, CHECKIN_QUESTIONS, START_ANALYSIS,
           STILL_ANALYSING, SHOW_HISTORY, EDIT_PROFILE, OPEN_REMINDERS, AFTER_RESULT, TALK_TO_PERSON)
