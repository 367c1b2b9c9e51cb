"""Risk in Chinese financial text: a packaged text-risk model, its events and drivers, and
which firm a text is about (:mod:`~creditpersona.text.model`,
:mod:`~creditpersona.text.features`, :mod:`~creditpersona.text.attribution`)."""
