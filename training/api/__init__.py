"""REST API of the training app: prediction jobs, training runs and model versions. Its
``urlpatterns`` join the labelling API's under /api/v1/ (see labelling.api.urls)."""

from training.api import prediction, runs

urlpatterns = [*prediction.urlpatterns, *runs.urlpatterns]
